package main

import (
	"net"
	"syscall"
	"testing"
)

// Connections accepted on the public listener have no TCP keep-alive (see listen).
func TestListenerAcceptsWithoutKeepAlive(t *testing.T) {
	ln, err := listen("127.0.0.1:0", "REVERB_SERVER_PORT or --port")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	keepAlive := -1
	var serr error
	if err := rc.Control(func(fd uintptr) {
		keepAlive, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if keepAlive != 0 {
		t.Errorf("SO_KEEPALIVE = %d on an accepted connection, want 0", keepAlive)
	}
}
