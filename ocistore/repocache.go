package ocistore

import (
	"container/list"
	"sync"

	"oras.land/oras-go/v2/registry/remote"
)

// maxSourceRepositories bounds the repository clients a Client keeps for
// its Sources. Each holds an auth cache and headers (a few KB), and a run
// may read from as many repositories as it has images: kept for the whole
// run, they made its memory grow with the image set. The images a run
// copies at once read from a handful of repositories, so the ones used
// last are the ones worth keeping; one evicted and asked for again is
// made anew (and authenticates anew).
const maxSourceRepositories = 256

// repoKey names a repository client: the repository and whether TLS is
// verified for it.
type repoKey struct {
	name     string
	insecure bool
}

// repoCache keeps the repository clients used last, at most max. Safe for
// concurrent use.
type repoCache struct {
	mu    sync.Mutex
	max   int
	order list.List // of *repoEntry, most recently used first
	byKey map[repoKey]*list.Element
}

type repoEntry struct {
	key  repoKey
	repo *remote.Repository
}

// get returns the client kept for key, or nil.
func (c *repoCache) get(key repoKey) *remote.Repository {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*repoEntry).repo
}

// add keeps r for key and returns the client kept for key: r, or the one
// another caller added first.
func (c *repoCache) add(key repoKey, r *remote.Repository) *remote.Repository {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*repoEntry).repo
	}
	if c.byKey == nil {
		c.byKey = map[repoKey]*list.Element{}
	}
	c.byKey[key] = c.order.PushFront(&repoEntry{key: key, repo: r})
	for c.order.Len() > max(c.max, 1) {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.byKey, old.Value.(*repoEntry).key)
	}
	return r
}

// len returns the number of clients kept.
func (c *repoCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
