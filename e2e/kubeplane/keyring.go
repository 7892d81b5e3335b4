// keyring-server: kubelet's own credential lookup, one JSON question per line.
//
// Question (stdin): {"image": "registry.cn-hangzhou.aliyuncs.com/ns/app:v1", "secrets": [<core/v1 Secret>, ...]}.
// Answer (stdout): {"repo": "registry.cn-hangzhou.aliyuncs.com/ns/app", "credentials": [{"username": "...",
// "password": "..."}, ...]}, or {"error": "..."} when kubelet could not parse the image or a Secret.
//
// This is what kubelet's image manager does before a pull (pkg/kubelet/images/image_manager.go,
// makeLookupPullCredentialsFunc): parsers.ParseImageName gives the repository, secrets.MakeDockerKeyring
// unions the keyring of the Pod's pull Secrets with the node's providers (here: the plugins of the
// CredentialProviderConfig, registered by plugin.RegisterCredentialProviderPlugins, with kubelet's
// per-provider cache), and Lookup returns the credentials in the order the runtime tries them.
// Plugin failures are logged on stderr by kubelet's code and give no credentials, as on a node.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	v1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/credentialprovider"
	"k8s.io/kubernetes/pkg/credentialprovider/plugin"
	"k8s.io/kubernetes/pkg/credentialprovider/secrets"
	"k8s.io/kubernetes/pkg/util/parsers"
)

type keyringQuestion struct {
	Image   string      `json:"image"`
	Secrets []v1.Secret `json:"secrets"`
}

type keyringCredential struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type keyringAnswer struct {
	Repo        string              `json:"repo,omitempty"`
	Credentials []keyringCredential `json:"credentials"`
	Error       string              `json:"error,omitempty"`
}

func runKeyringServer(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("keyring-server", flag.ContinueOnError)
	config := fs.String("image-credential-provider-config", "", "kubelet's CredentialProviderConfig file (optional)")
	binDir := fs.String("image-credential-provider-bin-dir", "", "directory of the plugins the config names")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config != "" {
		if err := plugin.RegisterCredentialProviderPlugins(*config, *binDir, nil, nil); err != nil {
			return fmt.Errorf("credential provider config %s: %w", *config, err)
		}
	}
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 0, 1<<20), 64<<20)
	encoder := json.NewEncoder(out)
	for scanner.Scan() {
		var q keyringQuestion
		var answer keyringAnswer
		if err := json.Unmarshal(scanner.Bytes(), &q); err != nil {
			answer.Error = fmt.Sprintf("question is not JSON: %v", err)
		} else {
			answer = lookup(q)
		}
		if err := encoder.Encode(answer); err != nil {
			return err
		}
	}
	return scanner.Err()
}

func lookup(q keyringQuestion) keyringAnswer {
	repo, _, _, err := parsers.ParseImageName(q.Image)
	if err != nil {
		return keyringAnswer{Error: err.Error()}
	}
	node := plugin.NewExternalCredentialProviderDockerKeyring("", "", "", "")
	keyring, err := secrets.MakeDockerKeyring(q.Secrets, credentialprovider.UnionDockerKeyring{node})
	if err != nil {
		return keyringAnswer{Repo: repo, Error: fmt.Sprintf("pull secrets: %v", err)}
	}
	found, _ := keyring.Lookup(repo)
	answer := keyringAnswer{Repo: repo, Credentials: []keyringCredential{}}
	for _, c := range found {
		answer.Credentials = append(answer.Credentials, keyringCredential{
			Username: c.Username,
			Password: c.Password,
		})
	}
	return answer
}
