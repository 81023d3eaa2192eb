package e2e

import "oras.land/oras-go/v2/registry/remote/auth"

func authClient(host, user, pass string) *auth.Client {
	return &auth.Client{Credential: auth.StaticCredential(host, auth.Credential{Username: user, Password: pass})}
}
