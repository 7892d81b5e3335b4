// Command pause is the local node's sandbox (pause) image binary: it holds a Pod's namespaces
// by doing nothing until SIGTERM or SIGINT. No registry is reachable to pull the upstream one, so
// the suite builds this one and imports it into containerd.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
