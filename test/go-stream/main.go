// go-stream is an independent client of ocid's streaming server for the integration tests:
// it upgrades an HTTP/1.1 connection to SPDY/3.1 and speaks the Kubernetes remotecommand
// (v4.channel.k8s.io) and port-forward (portforward.k8s.io) protocols with docker/spdystream,
// the SPDY library client-go's executor is built on.
//
//	go-stream exec URL [-stdin] [-stdout] [-stderr] [-tty] [-resize WxH] [-status FILE] [-quit-after-output]
//	                   [-later-resize WxH -later-after TEXT]
//	go-stream portforward URL -port N
//	go-stream status URL [-protocol P]   (prints the HTTP status of the upgrade)
//
// exec copies its stdin to the stdin stream, the stdout/stderr streams to its own, and writes
// what the error stream carried to -status. With -tty it opens the resize stream, sends -resize
// first, and -later-resize once stdout carried -later-after. portforward sends its stdin on one forwarded
// connection and prints what comes back; what the error stream carried goes to stderr and
// makes the exit code 1. Exit code 3: the upgrade was refused (the HTTP status is printed).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/docker/spdystream"
)

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-stream: "+format+"\n", args...)
	os.Exit(2)
}

// upgrade dials the URL and asks for SPDY/3.1; it returns the connection or exits 3.
func upgrade(raw string, protocol string) net.Conn {
	u, err := url.Parse(raw)
	if err != nil {
		fail("bad URL %q: %v", raw, err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		fail("dial %s: %v", u.Host, err)
	}
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n", u.RequestURI(), u.Host)
	for _, p := range strings.Split(protocol, ",") {
		req += "X-Stream-Protocol-Version: " + p + "\r\n"
	}
	req += "Content-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		fail("write request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fail("read response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := ioutil.ReadAll(resp.Body)
		fmt.Printf("http status %d\n%s", resp.StatusCode, body)
		os.Exit(3)
	}
	if got := resp.Header.Get("X-Stream-Protocol-Version"); got == "" {
		fail("the server chose no protocol")
	}
	return &bufferedConn{conn, br}
}

func open(c *spdystream.Connection, headers http.Header) *spdystream.Stream {
	s, err := c.CreateStream(headers, nil, false)
	if err != nil {
		fail("create stream %v: %v", headers, err)
	}
	if err := s.WaitTimeout(10 * time.Second); err != nil {
		fail("stream %v not accepted: %v", headers, err)
	}
	return s
}

func execCmd(args []string) {
	fs := flag.NewFlagSet("exec", flag.ExitOnError)
	stdin := fs.Bool("stdin", false, "send stdin")
	stdout := fs.Bool("stdout", true, "receive stdout")
	stderr := fs.Bool("stderr", false, "receive stderr")
	tty := fs.Bool("tty", false, "ask for a terminal")
	resize := fs.String("resize", "", "send a terminal size WxH first")
	status := fs.String("status", "", "file for what the error stream carried")
	protocol := fs.String("protocol", "v4.channel.k8s.io", "stream protocol(s), comma-separated")
	quit := fs.Bool("quit-after-output", false, "drop the connection after the first output")
	laterResize := fs.String("later-resize", "", "with -tty: a terminal size WxH to send later")
	laterAfter := fs.String("later-after", "", "send -later-resize once stdout carried this text")
	fs.Parse(args[1:])
	if fs.NArg() != 1 {
		fail("exec needs a URL")
	}
	c, err := spdystream.NewConnection(upgrade(fs.Arg(0), *protocol), false)
	if err != nil {
		fail("spdy: %v", err)
	}
	go c.Serve(spdystream.NoOpStreamHandler)

	errStream := open(c, http.Header{"streamType": {"error"}})
	var wg sync.WaitGroup
	if *stdin {
		s := open(c, http.Header{"streamType": {"stdin"}})
		go func() {
			io.Copy(s, os.Stdin)
			s.Close()
		}()
	}
	resizeStream := make(chan *spdystream.Stream, 1)
	sendSize := func(s *spdystream.Stream, size string) {
		var w, h int
		fmt.Sscanf(size, "%dx%d", &w, &h)
		fmt.Fprintf(s, "{\"Width\":%d,\"Height\":%d}\n", w, h)
	}
	copyOut := func(kind string, to io.Writer) {
		if kind == "stdout" && *tty && *laterResize != "" {
			to = &watchWriter{w: to, text: *laterAfter, then: func() {
				s := <-resizeStream
				sendSize(s, *laterResize)
				resizeStream <- s
			}}
		}
		s := open(c, http.Header{"streamType": {kind}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if *quit {
				buf := make([]byte, 4096)
				n, _ := s.Read(buf)
				to.Write(buf[:n])
				os.Exit(0)
			}
			io.Copy(to, s)
		}()
	}
	if *stdout {
		copyOut("stdout", os.Stdout)
	}
	if *stderr {
		copyOut("stderr", os.Stderr)
	}
	if *tty {
		s := open(c, http.Header{"streamType": {"resize"}})
		if *resize != "" {
			sendSize(s, *resize)
		}
		resizeStream <- s
	}
	msg, _ := ioutil.ReadAll(errStream)
	wg.Wait()
	if *status != "" {
		ioutil.WriteFile(*status, msg, 0o600)
	}
	c.Close()
}

// watchWriter passes writes through and calls then (once, in its own goroutine) when what was
// written so far contains text.
type watchWriter struct {
	w    io.Writer
	text string
	seen string
	done bool
	then func()
}

func (ww *watchWriter) Write(p []byte) (int, error) {
	if !ww.done {
		ww.seen += string(p)
		if strings.Contains(ww.seen, ww.text) {
			ww.done = true
			go ww.then()
		}
	}
	return ww.w.Write(p)
}

func portForwardCmd(args []string) {
	fs := flag.NewFlagSet("portforward", flag.ExitOnError)
	port := fs.Int("port", 0, "port in the pod")
	fs.Parse(args[1:])
	if fs.NArg() != 1 || *port == 0 {
		fail("portforward needs a URL and -port")
	}
	c, err := spdystream.NewConnection(upgrade(fs.Arg(0), "portforward.k8s.io"), false)
	if err != nil {
		fail("spdy: %v", err)
	}
	go c.Serve(spdystream.NoOpStreamHandler)
	p := fmt.Sprint(*port)
	errStream := open(c, http.Header{"streamType": {"error"}, "port": {p}, "requestID": {"0"}})
	errStream.Close()
	data := open(c, http.Header{"streamType": {"data"}, "port": {p}, "requestID": {"0"}})
	errText := make(chan []byte, 1)
	go func() {
		b, _ := ioutil.ReadAll(errStream)
		errText <- b
	}()
	go func() {
		io.Copy(data, os.Stdin)
		data.Close()
	}()
	io.Copy(os.Stdout, data)
	msg := <-errText
	c.Close()
	if len(msg) > 0 {
		fmt.Fprintf(os.Stderr, "%s\n", msg)
		os.Exit(1)
	}
}

func statusCmd(args []string) {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	protocol := fs.String("protocol", "v4.channel.k8s.io", "stream protocol(s), comma-separated")
	fs.Parse(args[1:])
	if fs.NArg() != 1 {
		fail("status needs a URL")
	}
	conn := upgrade(fs.Arg(0), *protocol)
	fmt.Println("http status 101")
	conn.Close()
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: go-stream exec|portforward|status URL ...")
	}
	switch os.Args[1] {
	case "exec":
		execCmd(os.Args[1:])
	case "portforward":
		portForwardCmd(os.Args[1:])
	case "status":
		statusCmd(os.Args[1:])
	default:
		fail("unknown command %q", os.Args[1])
	}
}
