// Command go-sdks runs Alibaba Cloud's official Go SDKs, unchanged, against whatever answers at
// Alibaba Cloud's real addresses, and prints what they got as one JSON object on stdout.
//
// The credentials SDK (github.com/aliyun/credentials-go) fetches the node's RAM-role STS
// credentials from ECS metadata at 100.100.100.200 (role ALIBABA_CLOUD_ECS_METADATA), in normal
// and hardened (IMDSv2-only) mode; the ACR SDK (github.com/alibabacloud-go/cr-20181201/v2) calls
// ListInstance, ListInstanceEndpoint and GetAuthorizationToken at cr.<region>.aliyuncs.com with
// those credentials, signed V3 (ACS3-HMAC-SHA256, the SDK's default) and V1 (RPC HMAC-SHA1), and
// once more with a wrong AccessKey secret, which must be refused. e2e/tests/go_sdks.rs runs it
// in a network namespace where the fakes answer at those addresses.
//
// Secrets: the registry passwords are printed (the caller pulls with them and never shows them);
// AccessKey secrets and STS tokens are not.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	cr "github.com/alibabacloud-go/cr-20181201/v2/client"
	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/credentials-go/credentials"
)

const region = "cn-hangzhou"

type acrResult struct {
	Instances []string `json:"instances"`
	Domains   []string `json:"domains"`
	User      string   `json:"user"`
	Password  string   `json:"password"`
	Expire    int64    `json:"expire"`
	WrongKey  string   `json:"wrongSecret"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "go-sdks: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	instance := os.Getenv("GO_SDKS_INSTANCE")
	out := map[string]any{}
	var cred credentials.Credential
	for _, hardened := range []bool{false, true} {
		c, err := credentials.NewCredential(new(credentials.Config).
			SetType("ecs_ram_role").
			SetRoleName(os.Getenv("ALIBABA_CLOUD_ECS_METADATA")).
			SetDisableIMDSv1(hardened))
		if err != nil {
			return fmt.Errorf("credentials (hardened %v): %w", hardened, err)
		}
		got, err := c.GetCredential()
		if err != nil {
			return fmt.Errorf("credentials from ECS metadata (hardened %v): %w", hardened, err)
		}
		name := map[bool]string{false: "normal", true: "hardened"}[hardened]
		out["credentials-"+name] = map[string]any{
			"accessKeyId": tea.StringValue(got.AccessKeyId),
			"hasToken":    tea.StringValue(got.SecurityToken) != "",
			"type":        tea.StringValue(got.Type),
		}
		cred = c
	}
	for _, signature := range []string{"v3", "v1"} {
		result, err := acr(cred, signature, instance)
		if err != nil {
			return fmt.Errorf("ACR SDK, %s signature: %w", signature, err)
		}
		out["acr-"+signature] = result
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// client is the ACR SDK's client in its default setup for the region; `v1` selects the RPC V1
// signature (SignatureAlgorithm "v2" is the SDK's name for its second generation of calls).
func client(config *openapi.Config, signature string) (*cr.Client, error) {
	config.RegionId = tea.String(region)
	if signature == "v1" {
		config.SignatureAlgorithm = tea.String("v2")
	}
	return cr.NewClient(config)
}

func acr(cred credentials.Credential, signature, instance string) (*acrResult, error) {
	c, err := client(&openapi.Config{Credential: cred}, signature)
	if err != nil {
		return nil, err
	}
	result := &acrResult{}
	list, err := c.ListInstance(new(cr.ListInstanceRequest).SetPageNo(1).SetPageSize(30))
	if err != nil {
		return nil, fmt.Errorf("ListInstance: %w", err)
	}
	for _, i := range list.Body.Instances {
		result.Instances = append(result.Instances, tea.StringValue(i.InstanceId))
	}
	endpoints, err := c.ListInstanceEndpoint(new(cr.ListInstanceEndpointRequest).
		SetInstanceId(instance).SetModuleName("Registry"))
	if err != nil {
		return nil, fmt.Errorf("ListInstanceEndpoint: %w", err)
	}
	for _, e := range endpoints.Body.Endpoints {
		for _, d := range e.Domains {
			result.Domains = append(result.Domains, tea.StringValue(d.Domain))
		}
	}
	token, err := c.GetAuthorizationToken(new(cr.GetAuthorizationTokenRequest).SetInstanceId(instance))
	if err != nil {
		return nil, fmt.Errorf("GetAuthorizationToken: %w", err)
	}
	result.User = tea.StringValue(token.Body.TempUsername)
	result.Password = tea.StringValue(token.Body.AuthorizationToken)
	result.Expire = tea.Int64Value(token.Body.ExpireTime)

	got, err := cred.GetCredential()
	if err != nil {
		return nil, err
	}
	wrong, err := client(&openapi.Config{
		AccessKeyId:     got.AccessKeyId,
		AccessKeySecret: tea.String("wrong-secret"),
		SecurityToken:   got.SecurityToken,
	}, signature)
	if err != nil {
		return nil, err
	}
	_, err = wrong.ListInstance(new(cr.ListInstanceRequest))
	var sdkErr *tea.SDKError
	switch {
	case err == nil:
		result.WrongKey = "no error"
	case errors.As(err, &sdkErr):
		result.WrongKey = tea.StringValue(sdkErr.Code)
	default:
		result.WrongKey = err.Error()
	}
	return result, nil
}
