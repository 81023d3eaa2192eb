package helm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RepositoriesFile is helm's repositories.yaml, where helm repo add keeps
// each repository's credentials and TLS settings. Reading it lets a
// configuration name a private repository by URL only, with the secrets
// where helm users already keep them.
type RepositoriesFile struct {
	// Path is the file read, for messages.
	Path    string
	entries []repoEntry
}

type repoEntry struct {
	Name                  string `yaml:"name"`
	URL                   string `yaml:"url"`
	Username              string `yaml:"username"`
	Password              string `yaml:"password"`
	CertFile              string `yaml:"certFile"`
	KeyFile               string `yaml:"keyFile"`
	CAFile                string `yaml:"caFile"`
	InsecureSkipTLSVerify bool   `yaml:"insecure_skip_tls_verify"`
	PassCredentialsAll    bool   `yaml:"pass_credentials_all"`
}

// DefaultRepositoriesFile returns where helm keeps repositories.yaml:
// $HELM_REPOSITORY_CONFIG, else $HELM_CONFIG_HOME/repositories.yaml, else
// the user configuration directory's helm/repositories.yaml.
func DefaultRepositoriesFile() string {
	if p := os.Getenv("HELM_REPOSITORY_CONFIG"); p != "" {
		return p
	}
	if d := os.Getenv("HELM_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "repositories.yaml")
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "helm", "repositories.yaml")
}

// LoadRepositoriesFile reads a repositories.yaml. A file that does not
// exist is an empty one unless it was named explicitly (explicit true).
// Errors wrap [ErrInvalid] and never show a password.
func LoadRepositoriesFile(path string, explicit bool) (*RepositoriesFile, error) {
	rf := &RepositoriesFile{Path: path}
	if path == "" {
		return rf, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return rf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: helm repositories file: %v", ErrInvalid, err)
	}
	var doc struct {
		Repositories []repoEntry `yaml:"repositories"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: helm repositories file %s: %v", ErrInvalid, path, err)
	}
	rf.entries = doc.Repositories
	return rf, nil
}

func sameRepoURL(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// Options returns base completed with the settings of the entry whose
// URL is rawURL (trailing "/" ignored). Entries are matched by URL only,
// never by name: a name shared by another URL must not receive its
// credentials. Fields already set in base win.
func (rf *RepositoriesFile) Options(rawURL string, base HTTPOptions) HTTPOptions {
	if rf == nil {
		return base
	}
	var e *repoEntry
	for i := range rf.entries {
		if sameRepoURL(rf.entries[i].URL, rawURL) {
			e = &rf.entries[i]
			break
		}
	}
	if e == nil {
		return base
	}
	if base.Username == "" {
		base.Username, base.Password = e.Username, e.Password
	}
	if base.CAFile == "" {
		base.CAFile = e.CAFile
	}
	if base.CertFile == "" && base.KeyFile == "" {
		base.CertFile, base.KeyFile = e.CertFile, e.KeyFile
	}
	base.InsecureSkipTLSVerify = base.InsecureSkipTLSVerify || e.InsecureSkipTLSVerify
	base.PassCredentialsAll = base.PassCredentialsAll || e.PassCredentialsAll
	return base
}
