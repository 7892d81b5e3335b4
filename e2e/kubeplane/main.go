// Command kubeplane runs one Kubernetes component per process, so the e2e suite has a real etcd,
// kube-apiserver, kube-controller-manager and (for its optional node) kubelet without Docker or
// downloaded release binaries.
//
//	kubeplane etcd --data-dir DIR --listen-client-url URL --listen-peer-url URL
//	kubeplane apiserver [kube-apiserver flags]
//	kubeplane controller-manager [kube-controller-manager flags]
//	kubeplane kubelet [kubelet flags]
//	kubeplane keyring-server [--image-credential-provider-config FILE --image-credential-provider-bin-dir DIR]
//
// One component per process because kube-apiserver installs a process-wide signal handler when its
// command is constructed and kube-controller-manager installs another when it runs; two in one process
// would panic.
//
// keyring-server answers, one JSON line per question on stdin, which credentials kubelet's own code
// (k8s.io/kubernetes/pkg/credentialprovider) hands the container runtime for an image: the keyring
// built from the Pod's pull Secrets, unioned with the credential provider plugins of a
// CredentialProviderConfig (exec'd and cached by pkg/credentialprovider/plugin), looked up with the
// repository kubelet derives from the image. See keyring.go.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // as upstream's mains: CronJob time zones

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // as upstream's mains: JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // as upstream's mains: client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // as upstream's mains: version metric
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

const usage = "usage: kubeplane etcd|apiserver|controller-manager|kubelet|keyring-server [flags]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	component, args := os.Args[1], os.Args[2:]
	if os.Getenv("KUBEPLANE_EXIT_WITH_PARENT") == "1" {
		go exitWithParent()
	}
	switch component {
	case "apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kubelet":
		cmd := kubelet.NewKubeletCommand(context.Background())
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "keyring-server":
		if err := runKeyringServer(args, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "kubeplane keyring-server: %v\n", err)
			os.Exit(1)
		}
	case "etcd":
		if err := runEtcd(args); err != nil {
			fmt.Fprintf(os.Stderr, "kubeplane etcd: %v\n", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "kubeplane: unknown component %q\n%s\n", component, usage)
		os.Exit(2)
	}
}

// exitWithParent stops this component once the process that started it is gone, so a test runner
// killed without running its destructors (SIGKILL, a CI timeout) leaves no control plane behind.
// It polls the parent PID rather than using PR_SET_PDEATHSIG, which fires when the spawning *thread*
// exits, and test runners spawn from short-lived threads.
func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(500 * time.Millisecond) {
		if os.Getppid() != parent {
			fmt.Fprintf(os.Stderr, "kubeplane: parent %d is gone, stopping\n", parent)
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			time.Sleep(10 * time.Second)
			os.Exit(1)
		}
	}
}

// runEtcd runs a single-member etcd (the version k8s.io/apiserver itself is built against) until
// SIGTERM or SIGINT.
func runEtcd(args []string) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "etcd data directory (required)")
	clientURL := fs.String("listen-client-url", "", "client URL, e.g. http://127.0.0.1:2379 (required)")
	peerURL := fs.String("listen-peer-url", "", "peer URL, e.g. http://127.0.0.1:2380 (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dataDir == "" || *clientURL == "" || *peerURL == "" {
		return fmt.Errorf("--data-dir, --listen-client-url and --listen-peer-url are required")
	}
	client, err := url.Parse(*clientURL)
	if err != nil {
		return fmt.Errorf("--listen-client-url %q: %w", *clientURL, err)
	}
	peer, err := url.Parse(*peerURL)
	if err != nil {
		return fmt.Errorf("--listen-peer-url %q: %w", *peerURL, err)
	}

	cfg := embed.NewConfig()
	cfg.Name = "kubeplane"
	cfg.Dir = *dataDir
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// A throwaway test store: durability across power loss is worth nothing, fsync latency is.
	cfg.UnsafeNoFsync = true
	// No metrics listener beyond the client URL; nothing else should bind.
	cfg.ListenMetricsUrls = nil
	cfg.LogLevel = "warn"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "kubeplane etcd: ready, serving %s\n", client)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		return fmt.Errorf("not ready after 60s")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "kubeplane etcd: signal received, stopping")
		return nil
	case err := <-e.Err():
		return fmt.Errorf("serving: %w", err)
	}
}
