package main

import (
	"flag"
	"fmt"
	"io"
)

// commandFlags are the flags of `reverbd start`, named as `php artisan reverb:start`'s;
// `reverbd worker` takes only --env-file and --debug, `reverbd restart` only --env-file.
type commandFlags struct {
	envFile  string
	host     string
	port     int
	path     string
	hostname string
	debug    bool
}

// parseFlags parses the flags of `reverbd <command>`. A positional argument is refused: the
// flag package stops at the first one and would silently ignore every flag after it. The
// returned FlagSet tells which flags were given (Visit).
func parseFlags(command string, args []string, stderr io.Writer) (commandFlags, *flag.FlagSet, error) {
	var f commandFlags
	synopsis := workerSynopsis
	fs := flag.NewFlagSet("reverbd "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.envFile, "env-file", "", "Laravel-style .env file to read first (default .env in the working directory, if present)")
	switch command {
	case "start":
		synopsis = startSynopsis
		fs.StringVar(&f.host, "host", "", "address to bind (REVERB_SERVER_HOST)")
		fs.IntVar(&f.port, "port", 0, "port to bind (REVERB_SERVER_PORT)")
		fs.StringVar(&f.path, "path", "", "route prefix for every route (REVERB_SERVER_PATH)")
		fs.StringVar(&f.hostname, "hostname", "", "public host name (REVERB_HOST)")
	case "restart":
		synopsis = restartSynopsis
	}
	if command != "restart" {
		fs.BoolVar(&f.debug, "debug", false, "log every connection and message at debug level (REVERB_DEBUG)")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: reverbd %s %s\n\nFlags:\n", command, synopsis)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return f, fs, err
		}
		return f, fs, errUsage // the flag package wrote the mistake and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "reverbd %s: unexpected argument %q: the command takes flags only (a boolean flag is set with --debug=false)\n", command, fs.Arg(0))
		fmt.Fprintf(stderr, "Usage: reverbd %s %s\n", command, synopsis)
		return f, fs, errUsage
	}
	return f, fs, nil
}
