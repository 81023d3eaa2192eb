package imageset

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadOperatorCatalogSourceTemplate(t *testing.T) {
	const head = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.18\n"
	c, err := Load(strings.NewReader(head+"    targetCatalogSourceTemplate: /home/user/cs-template.yaml\n"), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Mirror.Operators[0].TargetCatalogSourceTemplate; got != "/home/user/cs-template.yaml" {
		t.Errorf("TargetCatalogSourceTemplate = %q", got)
	}
	_, err = Load(strings.NewReader(head+"    targetCatalogSourceTemplate: \"\"\n"), "isc.yaml")
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "targetCatalogSourceTemplate") {
		t.Errorf("empty template path: %v", err)
	}
}
