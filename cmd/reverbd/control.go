package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// controlTimeout bounds one request on the control socket, each way.
const controlTimeout = 2 * time.Second

// controlSocket is the Unix socket on which `reverbd start` takes `reverbd restart`'s request
// from the same host (REVERB_CONTROL_SOCKET): one line each way per connection. "restart"
// is answered "ok {pid}", and the server then drains and exits like on SIGTERM. Only a peer
// running as the server's own user or as root is heard (the kernel's SO_PEERCRED), which is
// what guards an abstract socket: it has no file permissions.
type controlSocket struct {
	ln  net.Listener
	log *slog.Logger
	wg  sync.WaitGroup
}

// listenControl binds the control socket name: a path, or @name for a Linux abstract socket.
// A socket file left behind by a process that died is replaced; one a live server answers
// on is not.
func listenControl(name string, log *slog.Logger) (*controlSocket, error) {
	ln, err := net.Listen("unix", name)
	if errors.Is(err, syscall.EADDRINUSE) && !strings.HasPrefix(name, "@") {
		if conn, derr := net.DialTimeout("unix", name, controlTimeout); derr == nil {
			conn.Close()
		} else if os.Remove(name) == nil {
			ln, err = net.Listen("unix", name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", name, err)
	}
	return &controlSocket{ln: ln, log: log.With("component", "control", "socket", name)}, nil
}

// start serves requests until stop; restart is called for each accepted restart request.
func (c *controlSocket) start(restart func()) {
	c.wg.Go(func() {
		for {
			conn, err := c.ln.Accept()
			if err != nil {
				return // closed by stop
			}
			c.wg.Go(func() { c.handle(conn, restart) })
		}
	})
}

// stop closes the socket and waits for the requests being answered.
func (c *controlSocket) stop() {
	_ = c.ln.Close()
	c.wg.Wait()
}

func (c *controlSocket) handle(conn net.Conn, restart func()) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(controlTimeout))
	if err := peerAllowed(conn); err != nil {
		c.log.Warn("control request refused", "err", err)
		fmt.Fprintf(conn, "error %v\n", err)
		return
	}
	line, _ := bufio.NewReader(io.LimitReader(conn, 64)).ReadString('\n')
	switch req := strings.TrimSpace(line); req {
	case "restart":
		c.log.Info("restart requested through the control socket")
		fmt.Fprintf(conn, "ok %d\n", os.Getpid())
		restart()
	default:
		fmt.Fprintf(conn, "error unknown request %q (this server knows: restart)\n", req)
	}
}

// peerAllowed accepts a peer that runs as this process's user or as root.
func peerAllowed(conn net.Conn) error {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return errors.New("not a Unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("peer credentials: %w", credErr)
	}
	if own := os.Getuid(); cred.Uid != 0 && int(cred.Uid) != own {
		return fmt.Errorf("user id %d may not control this server: run reverbd restart as the server's user (id %d) or root", cred.Uid, own)
	}
	return nil
}

// askRestart sends the restart request to the control socket name and returns the pid of
// the server that took it.
func askRestart(name string) (int, error) {
	conn, err := net.DialTimeout("unix", name, controlTimeout)
	if err != nil {
		return 0, fmt.Errorf("no reverbd answers on the control socket %s (%w): is it running with this configuration? A server started with --port or another env file names its socket after that port (REVERB_CONTROL_SOCKET sets one explicitly)", name, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(controlTimeout))
	if _, err := io.WriteString(conn, "restart\n"); err != nil {
		return 0, fmt.Errorf("control socket %s: %w", name, err)
	}
	line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("control socket %s: no answer: %w", name, err)
	}
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return 0, fmt.Errorf("control socket %s: %s", name, msg)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "ok "))
	if !strings.HasPrefix(line, "ok ") || err != nil {
		return 0, fmt.Errorf("control socket %s: unexpected answer %q", name, line)
	}
	return pid, nil
}

// startControl binds the control socket `reverbd restart` uses, named after ln's port
// unless REVERB_CONTROL_SOCKET names it. A server that cannot bind it runs without.
func (s *server) startControl(ln net.Listener) {
	port := s.cfg.ServerPort
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		port = tcp.Port
	}
	c, err := listenControl(s.cfg.ControlSocketAt(port), s.log)
	if err != nil {
		s.log.Warn("no control socket: reverbd restart cannot reach this server", "err", err)
		return
	}
	s.control = c
	c.start(func() { s.requestRestart("control socket") })
}
