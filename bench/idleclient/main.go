// Command idleclient holds many idle HTTP/1.1 keep-alive connections open to
// one address, for bench/idle.sh: it opens -n connections, sends one GET on
// each and reads the answer (so the server has served a request and parked
// the connection as idle keep-alive, the state WebSocket- and SSE-heavy
// sites live in), prints "READY <n>" and waits. On SIGUSR1 (or after -hold)
// it closes them all, prints "CLOSED" and exits.
//
// It talks only to loopback addresses and refuses anything else.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "", "host:port to connect to (loopback only)")
	n := flag.Int("n", 10000, "connections to hold")
	host := flag.String("host", "bench.local", "Host header")
	hold := flag.Duration("hold", 60*time.Second, "close everything after this long even without SIGUSR1")
	par := flag.Int("par", 64, "connections opened concurrently")
	flag.Parse()
	if err := run(*addr, *n, *host, *hold, *par); err != nil {
		fmt.Fprintln(os.Stderr, "idleclient:", err)
		os.Exit(1)
	}
}

func run(addr string, n int, host string, hold time.Duration, par int) error {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	release := make(chan os.Signal, 1)
	signal.Notify(release, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)

	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := one(addr, req)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	var first error
	for err := range errs {
		if first == nil {
			first = err
		}
		failed++
	}
	if failed > 0 {
		closeAll(conns)
		return fmt.Errorf("%d of %d connections failed, first: %w", failed, n, first)
	}
	fmt.Printf("READY %d\n", n)
	select {
	case <-release:
	case <-time.After(hold):
	}
	closeAll(conns)
	fmt.Println("CLOSED")
	return nil
}

// one dials addr, sends req and reads one whole response, leaving the
// connection idle in keep-alive.
func one(addr, req string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		c.Close()
		return nil, fmt.Errorf("status %d, close %v", resp.StatusCode, resp.Close)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
