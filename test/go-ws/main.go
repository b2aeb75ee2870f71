// go-ws is an independent WebSocket client of ocid's streaming server for the integration
// tests, on gorilla/websocket (Debian golang-github-gorilla-websocket-dev). It speaks the
// Kubernetes channel protocols: each message starts with a channel byte (or, for the base64
// variants, an ASCII digit followed by base64).
//
//	go-ws exec URL [-protocol P] [-stdin] [-close-stdin] [-resize WxH] [-status FILE]
//	go-ws portforward URL [-protocol P]
//	go-ws raw URL [-protocol P] -send HEX[,HEX...]   (sends raw messages, prints what comes back)
//
// exec copies its stdin to channel 0 (with -close-stdin, v5's close signal follows: channel
// 255 carrying 0), channels 1 and 2 to its stdout and stderr, and channel 3 to -status; it
// prints "protocol: P" and "first: N" (the channel of the first message) on stderr's first
// lines when -v is given. portforward sends its stdin on port 0's data channel after reading
// the two port bytes on both channels, and prints what comes back; error channel text goes to
// stderr and exit code 1. Exit code 3: the upgrade was refused (HTTP status printed).
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-ws: "+format+"\n", args...)
	os.Exit(2)
}

type conn struct {
	ws     *websocket.Conn
	base64 bool
}

func dial(raw, protocol string) *conn {
	u := strings.Replace(raw, "http://", "ws://", 1)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if protocol != "" {
		d.Subprotocols = strings.Split(protocol, ",")
	}
	ws, res, err := d.Dial(u, nil)
	if err != nil {
		if res != nil {
			fmt.Printf("%d\n", res.StatusCode)
			os.Exit(3)
		}
		fail("dial %s: %v", u, err)
	}
	fmt.Fprintf(os.Stderr, "protocol: %s\n", ws.Subprotocol())
	return &conn{ws: ws, base64: strings.Contains(ws.Subprotocol(), "base64")}
}

func (c *conn) send(channel byte, data []byte) error {
	if c.base64 {
		return c.ws.WriteMessage(websocket.TextMessage, []byte(string('0'+channel)+base64.StdEncoding.EncodeToString(data)))
	}
	return c.ws.WriteMessage(websocket.BinaryMessage, append([]byte{channel}, data...))
}

// read returns the next message's channel and payload; ok false once the socket closed.
func (c *conn) read() (byte, []byte, bool, error) {
	_, msg, err := c.ws.ReadMessage()
	if err != nil {
		if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			return 0, nil, false, nil
		}
		return 0, nil, false, err
	}
	if len(msg) == 0 {
		return 0, nil, true, fmt.Errorf("empty message")
	}
	if !c.base64 {
		return msg[0], msg[1:], true, nil
	}
	data, err := base64.StdEncoding.DecodeString(string(msg[1:]))
	return msg[0] - '0', data, true, err
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: go-ws exec|portforward|raw URL [flags]")
	}
	mode, raw := os.Args[1], os.Args[2]
	big := 0
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	protocol := fs.String("protocol", "v5.channel.k8s.io", "subprotocols, comma-separated")
	stdin := fs.Bool("stdin", false, "send stdin on channel 0")
	closeStdin := fs.Bool("close-stdin", false, "send v5's close signal for stdin after it")
	resize := fs.String("resize", "", "send WxH on channel 4 first")
	status := fs.String("status", "", "file for what channel 3 carried")
	sendHex := fs.String("send", "", "raw: hex messages to send, comma-separated")
	fs.IntVar(&big, "big", 0, "raw: first send one message of channel 0 and this many bytes")
	fs.Parse(os.Args[3:])
	c := dial(raw, *protocol)
	switch mode {
	case "exec":
		execMode(c, *stdin, *closeStdin, *resize, *status)
	case "portforward":
		portForwardMode(c)
	case "raw":
		if big > 0 {
			c.ws.WriteMessage(websocket.BinaryMessage, append([]byte{0}, make([]byte, big)...))
		}
		for _, h := range strings.Split(*sendHex, ",") {
			if h == "" {
				continue
			}
			b, err := hex.DecodeString(h)
			if err != nil {
				fail("bad hex %q", h)
			}
			c.ws.WriteMessage(websocket.BinaryMessage, b)
		}
		for {
			_, msg, err := c.ws.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					fmt.Printf("close %d\n", ce.Code)
					return
				}
				fmt.Printf("error %v\n", err)
				return
			}
			fmt.Printf("message %x\n", msg)
		}
	default:
		fail("unknown mode %q", mode)
	}
}

func execMode(c *conn, stdin, closeStdin bool, resize, statusFile string) {
	if resize != "" {
		var w, h int
		fmt.Sscanf(resize, "%dx%d", &w, &h)
		c.send(4, []byte(fmt.Sprintf(`{"Width":%d,"Height":%d}`, w, h)))
	}
	if stdin {
		go func() {
			buf := make([]byte, 32*1024)
			for {
				n, err := os.Stdin.Read(buf)
				if n > 0 {
					c.send(0, buf[:n])
				}
				if err != nil {
					break
				}
			}
			if closeStdin {
				c.ws.WriteMessage(websocket.BinaryMessage, []byte{255, 0})
			}
		}()
	}
	var errText []byte
	first := true
	for {
		ch, data, ok, err := c.read()
		if err != nil {
			fail("read: %v", err)
		}
		if !ok {
			break
		}
		if first {
			fmt.Fprintf(os.Stderr, "first: %d %d\n", ch, len(data))
			first = false
		}
		switch ch {
		case 1:
			os.Stdout.Write(data)
		case 2:
			os.Stderr.Write(data)
		case 3:
			errText = append(errText, data...)
		}
	}
	if statusFile != "" {
		ioutil.WriteFile(statusFile, errText, 0o644)
	}
}

func portForwardMode(c *conn) {
	ports := map[byte]bool{}
	for len(ports) < 2 {
		ch, data, ok, err := c.read()
		if err != nil || !ok || len(data) != 2 {
			fail("expected the port prefix on channels 0 and 1, got channel %d %x (%v)", ch, data, err)
		}
		fmt.Fprintf(os.Stderr, "port on %d: %d\n", ch, binary.LittleEndian.Uint16(data))
		ports[ch] = true
	}
	go func() {
		input, _ := io.ReadAll(os.Stdin)
		c.send(0, input)
	}()
	code := 0
	for {
		ch, data, ok, err := c.read()
		if err != nil {
			if _, closed := err.(*websocket.CloseError); closed {
				break
			}
			fail("read: %v", err)
		}
		if !ok {
			break
		}
		if ch == 0 {
			os.Stdout.Write(data)
		} else if ch == 1 && len(data) > 0 {
			os.Stderr.Write(data)
			code = 1
		}
	}
	os.Exit(code)
}
