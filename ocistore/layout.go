package ocistore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
)

// OpenOCILayout opens an existing OCI image layout directory (an oci://
// source) read-only. A missing directory wraps errdef.ErrNotFound.
func OpenOCILayout(ctx context.Context, path string) (oras.ReadOnlyGraphTarget, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ocistore: OCI layout %s: %w", path, errdef.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("ocistore: OCI layout: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%w: OCI layout %s is not a directory", ErrInvalidReference, path)
	}
	store, err := oci.NewFromFS(ctx, os.DirFS(path))
	if err != nil {
		return nil, fmt.Errorf("ocistore: OCI layout %s: %w", path, err)
	}
	return store, nil
}

// CreateOCILayout opens or creates an OCI image layout directory for
// writing. oras-go's store rewrites index.json on every tag and is not safe
// across processes: use it for small outputs such as catalogs, never as a
// staging area for archives.
func CreateOCILayout(ctx context.Context, path string) (oras.GraphTarget, error) {
	store, err := oci.NewWithContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("ocistore: OCI layout %s: %w", path, err)
	}
	return store, nil
}
