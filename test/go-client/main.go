// Command go-client invokes one unary gRPC method over a unix socket the way kubelet, crictl
// and critest before 1.31 do: the target is the bare socket path and a custom dialer opens the
// socket, so the client sends the path as the HTTP/2 :authority pseudo-header.
//
// It needs no generated code: request and response messages are raw protobuf bytes.
//
// Usage:
//
//	go-client [-timeout 10s] [-count 1] <socket path> <full method> [request hex | -]
//
// The full method looks like "/runtime.v1.RuntimeService/Version". The request is hex on the
// command line, or hex on stdin when the argument is "-" or missing (empty means an empty
// message). With -count N the call is made N times on one connection (so later requests
// reuse HPACK dynamic-table entries) and the last result is printed, or the first failure.
// One JSON line is printed on stdout: {"code":0,"message":"","response":"<hex>"}.
// The exit status is 0 when the call succeeded, 1 when it failed with a gRPC status and 2 on a
// usage error.
//
// Session mode keeps one connection open for a whole conversation, as kubelet does:
//
//	go-client -session [-timeout 60s] <socket path>
//
// reads one call a line on stdin, "<full method> <request hex>", and prints one JSON result line
// per call (the same shape as above) until stdin ends; -timeout bounds each call.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// rawCodec passes []byte messages through untouched.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

type result struct {
	Code     uint32 `json:"code"`
	Message  string `json:"message"`
	Response string `json:"response"`
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "go-client: %s\nusage: go-client [-timeout 10s] [-count 1] <socket path> <full method> [request hex | -]\n", msg)
	os.Exit(2)
}

func main() {
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of all calls, dial included")
	count := flag.Int("count", 1, "how many times to make the call on one connection")
	session := flag.Bool("session", false, "read calls from stdin, one a line, on one connection")
	flag.Parse()
	args := flag.Args()
	if *session {
		if len(args) != 1 {
			usage("expected the socket path")
		}
		runSession(args[0], *timeout)
		return
	}
	if len(args) < 2 || len(args) > 3 {
		usage("expected 2 or 3 arguments")
	}
	socket, method := args[0], args[1]
	reqHex := "-"
	if len(args) == 3 {
		reqHex = args[2]
	}
	if reqHex == "-" {
		in, err := ioutil.ReadAll(os.Stdin)
		if err != nil {
			usage("cannot read stdin: " + err.Error())
		}
		reqHex = string(in)
	}
	req, err := hex.DecodeString(strings.TrimSpace(reqHex))
	if err != nil {
		usage("request is not hex: " + err.Error())
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn := dial(ctx, socket)
	defer conn.Close()

	var resp []byte
	for i := 0; i < *count; i++ {
		resp = nil
		err = conn.Invoke(ctx, method, req, &resp, grpc.ForceCodec(rawCodec{}), grpc.WaitForReady(false))
		if err != nil {
			break
		}
	}
	printResult(resp, err)
	if err != nil {
		os.Exit(1)
	}
}

// dial connects the way kubelet before 1.31 does: the target is the bare path (no "unix:"
// scheme), so grpc-go uses it as :authority, and a custom dialer opens the socket.
func dial(ctx context.Context, socket string) *grpc.ClientConn {
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", addr)
	}
	conn, err := grpc.DialContext(ctx, socket, grpc.WithInsecure(), grpc.WithContextDialer(dialer))
	if err != nil {
		usage("cannot dial: " + err.Error())
	}
	return conn
}

// printResult prints one JSON result line.
func printResult(resp []byte, err error) {
	out := result{Response: hex.EncodeToString(resp)}
	if err != nil {
		st := status.Convert(err)
		out.Code = uint32(st.Code())
		out.Message = st.Message()
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

// runSession makes the calls read from stdin on one connection, each within timeout.
func runSession(socket string, timeout time.Duration) {
	conn := dial(context.Background(), socket)
	defer conn.Close()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		reqHex := ""
		if len(fields) > 1 {
			reqHex = fields[1]
		}
		req, err := hex.DecodeString(reqHex)
		if err != nil {
			usage("request is not hex: " + err.Error())
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		var resp []byte
		err = conn.Invoke(ctx, fields[0], req, &resp, grpc.ForceCodec(rawCodec{}))
		cancel()
		printResult(resp, err)
	}
}
