// Command testentry is the entrypoint of hotswap's FROM-scratch test images,
// in the spirit of the docker-entrypoint.sh of official images: arguments
// that start with "-" (or none) run the sample app with them, the word
// "hook" runs a tiny one-shot program whose exit code, duration, memory use
// and output the test chooses, and anything else is executed as a command.
//
// It exists because the sample app never exits 0 on its own, yet Docker
// hooks keep the image's entrypoint and replace only its command: a test
// needs one image that can both serve (the sample app) and run a hook that
// succeeds, fails, hangs or runs out of memory.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// sampleApp is where the test images put the sample app binary.
const sampleApp = "/sampleapp"

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
		crashOnNode()
		execve(sampleApp, append([]string{sampleApp}, args...))
	case args[0] == "hook":
		os.Exit(hook(args[1:]))
	default:
		execve(args[0], args)
	}
}

// crashOnNode exits 3 at boot, as a crashing app would, when
// TESTENTRY_CRASH_ON names the node in TESTENTRY_NODE: a Swarm service sets
// TESTENTRY_NODE={{.Node.Hostname}}, so one image is healthy on one node and
// crashes on another.
func crashOnNode() {
	node, on := os.Getenv("TESTENTRY_NODE"), os.Getenv("TESTENTRY_CRASH_ON")
	if on != "" && node == on {
		fmt.Fprintf(os.Stderr, "testentry: simulated crash on node %s\n", node)
		os.Exit(3)
	}
}

// execve replaces this process so that the program becomes PID 1 and gets
// the engine's stop signal directly.
func execve(path string, argv []string) {
	err := syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "testentry: exec %s: %v\n", path, err)
	os.Exit(127)
}

// hook prints what it was given, optionally holds memory and waits, then
// exits with the requested code.
func hook(args []string) int {
	fs := flag.NewFlagSet("hook", flag.ContinueOnError)
	code := fs.Int("exit", 0, "exit code")
	wait := fs.Duration("sleep", 0, "how long to run before exiting (until SIGTERM)")
	allocMB := fs.Int("alloc", 0, "MiB of memory to touch before waiting")
	printEnv := fs.Bool("env", false, "print the environment, sorted")
	failFor := fs.String("fail-for", "", "exit 1, like a failed migration, when HOTSWAP_VERSION contains this word")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fmt.Printf("hook ran: %s\n", strings.Join(args, " "))
	if *printEnv {
		env := os.Environ()
		slices.Sort(env)
		for _, kv := range env {
			fmt.Println("env", kv)
		}
	}
	var hold [][]byte
	for i := 0; i < *allocMB; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		hold = append(hold, b)
	}
	if *allocMB > 0 {
		fmt.Printf("hook holds %d MiB\n", len(hold))
	}
	if *wait > 0 {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-time.After(*wait):
		case s := <-sig:
			fmt.Printf("hook stopped by %v\n", s)
		}
	}
	if v := os.Getenv("HOTSWAP_VERSION"); *failFor != "" && strings.Contains(v, *failFor) {
		fmt.Fprintf(os.Stderr, "migration failed: %s cannot migrate the schema\n", v)
		*code = 1
	}
	fmt.Fprintf(os.Stderr, "hook exits %d\n", *code)
	return *code
}
