package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// clockTick is USER_HZ, the unit of /proc/PID/stat times; 100 on every Linux architecture
// Go supports.
const clockTick = 10 * time.Millisecond

// raiseNofile raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft limit.
func raiseNofile() (uint64, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
			return r.Cur, err
		}
	}
	return r.Cur, nil
}

// procRSS returns the resident set size of process pid in bytes (VmRSS of
// /proc/PID/status).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.Index(b, []byte("\nVmRSS:"))
	if i < 0 {
		return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	f := bytes.Fields(b[i+len("\nVmRSS:"):])
	if len(f) < 2 {
		return 0, fmt.Errorf("bad VmRSS in /proc/%d/status", pid)
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	return kb * 1024, err
}

// procCPU returns the CPU time (user + system) process pid has used so far, from fields 14
// and 15 of /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields are counted after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad times in /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// selfUsage returns this process's CPU time (user + system) and peak RSS in bytes.
func selfUsage() (time.Duration, int64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Maxrss * 1024
}

// cpuMeter samples the CPU time of this process and, when pid > 0, of the server, so the
// share of one core each used over a phase can be computed.
type cpuMeter struct {
	pid  int
	at   time.Time
	self time.Duration
	srv  time.Duration
	ok   bool // srv is valid
}

// sampleCPU takes a sample now.
func sampleCPU(pid int) cpuMeter {
	m := cpuMeter{pid: pid, at: time.Now()}
	m.self, _ = selfUsage()
	if pid > 0 {
		var err error
		m.srv, err = procCPU(pid)
		m.ok = err == nil
	}
	return m
}

// shares returns the percent of one core this process and the server used between m and
// later; srv is negative when the server was not sampled.
func (m cpuMeter) shares(later cpuMeter) (self, srv float64) {
	wall := later.at.Sub(m.at).Seconds()
	if wall <= 0 {
		return 0, -1
	}
	self = (later.self - m.self).Seconds() / wall * 100
	srv = -1
	if m.ok && later.ok {
		srv = (later.srv - m.srv).Seconds() / wall * 100
	}
	return self, srv
}

// listenCounters are the kernel's counters of connection attempts a listener could not take
// at once (TcpExt in /proc/net/netstat, for the whole machine): ListenOverflows counts a full
// accept queue (the client retries its SYN or final ACK after a second or more), SyncookiesSent
// a full SYN queue answered with a cookie.
type listenCounters struct {
	ListenOverflows int64 `json:"listen_overflows"`
	ListenDrops     int64 `json:"listen_drops"`
	SyncookiesSent  int64 `json:"syncookies_sent"`
}

// readListenCounters reads the counters now; zero when /proc/net/netstat is unreadable.
func readListenCounters() listenCounters {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return listenCounters{}
	}
	lines := bytes.Split(b, []byte("\n"))
	var c listenCounters
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := bytes.Fields(lines[i]), bytes.Fields(lines[i+1])
		if len(names) == 0 || string(names[0]) != "TcpExt:" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			v, _ := strconv.ParseInt(string(values[j]), 10, 64)
			switch string(n) {
			case "ListenOverflows":
				c.ListenOverflows = v
			case "ListenDrops":
				c.ListenDrops = v
			case "SyncookiesSent":
				c.SyncookiesSent = v
			}
		}
	}
	return c
}

// delta returns later − c.
func (c listenCounters) delta(later listenCounters) listenCounters {
	return listenCounters{
		ListenOverflows: later.ListenOverflows - c.ListenOverflows,
		ListenDrops:     later.ListenDrops - c.ListenDrops,
		SyncookiesSent:  later.SyncookiesSent - c.SyncookiesSent,
	}
}

// String formats the counters for the table.
func (c listenCounters) String() string {
	return fmt.Sprintf("%d listen overflows, %d listen drops, %d SYN cookies sent", c.ListenOverflows, c.ListenDrops, c.SyncookiesSent)
}
