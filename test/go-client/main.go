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
package main

import (
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
	flag.Parse()
	args := flag.Args()
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
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", addr)
	}
	// The target is the bare path (no "unix:" scheme), so grpc-go uses it as :authority.
	conn, err := grpc.DialContext(ctx, socket, grpc.WithInsecure(), grpc.WithContextDialer(dialer))
	if err != nil {
		usage("cannot dial: " + err.Error())
	}
	defer conn.Close()

	var resp []byte
	for i := 0; i < *count; i++ {
		resp = nil
		err = conn.Invoke(ctx, method, req, &resp, grpc.ForceCodec(rawCodec{}), grpc.WaitForReady(false))
		if err != nil {
			break
		}
	}
	out := result{Response: hex.EncodeToString(resp)}
	if err != nil {
		st := status.Convert(err)
		out.Code = uint32(st.Code())
		out.Message = st.Message()
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
	if err != nil {
		os.Exit(1)
	}
}
