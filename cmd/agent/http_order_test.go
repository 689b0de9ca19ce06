package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestHTTPClosedNotCounted: a connection the agent closed (here after a
// request that asked for it) is no longer counted open once the client
// sees it closed: the gauge moves before the close, as the counters of
// rejected and evicted connections do.
func TestHTTPClosedNotCounted(t *testing.T) {
	addr, reg := abuseServer(t, smallLimits())
	for i := range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("connection %d: read %v, want EOF (closed by the agent)", i, err)
		}
		c.Close()
		if v := gaugeValue(t, reg, "ferry_http_connections"); v != 0 {
			t.Fatalf("connection %d seen closed by its client: ferry_http_connections = %v, want 0", i, v)
		}
	}
}
