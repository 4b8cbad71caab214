package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/catalogue"
)

// Synopses of the channel catalogue's commands.
const (
	channelsCheckSynopsis    = "[--env-file PATH] [FILE]"
	channelsGenerateSynopsis = "php|ts [--namespace NS] [--class NAME] [--out FILE] [--env-file PATH] [FILE]"
)

// channelsCatalogueCommand runs `reverbd channels check|generate ...` and tells whether args
// named one of them.
func channelsCatalogueCommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "check":
		return channelsCheck(args[1:], stdout, stderr), true
	case "generate":
		return channelsGenerate(args[1:], stdout, stderr), true
	}
	return 0, false
}

// channelsFlags parse flags and at most one FILE argument, in any order.
type channelsFlags struct {
	*flag.FlagSet
	envFile string
	file    string
}

func newChannelsFlags(command, synopsis string, stderr io.Writer) *channelsFlags {
	f := &channelsFlags{FlagSet: flag.NewFlagSet("reverbd channels "+command, flag.ContinueOnError)}
	f.SetOutput(stderr)
	f.StringVar(&f.envFile, "env-file", "", "Laravel-style .env file in which to find REVERB_CHANNELS_FILE when no FILE is given (default .env in the working directory, if present)")
	f.Usage = func() {
		fmt.Fprintf(f.Output(), "Usage: reverbd channels %s %s\n\nFILE is the channel catalogue (default REVERB_CHANNELS_FILE).\n\nFlags:\n", command, synopsis)
		f.PrintDefaults()
	}
	return f
}

// parse parses args, flags before or after the one FILE.
func (f *channelsFlags) parse(args []string) error {
	for {
		if err := f.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return err
			}
			return errUsage
		}
		if f.NArg() == 0 {
			return nil
		}
		if f.file != "" {
			fmt.Fprintf(f.Output(), "%s: unexpected argument %q: the command takes one catalogue file\n", f.Name(), f.Arg(0))
			f.Usage()
			return errUsage
		}
		f.file, args = f.Arg(0), f.Args()[1:]
	}
}

// catalogueFile is FILE, else REVERB_CHANNELS_FILE from the environment or the env file.
func (f *channelsFlags) catalogueFile() (string, error) {
	if f.file != "" {
		return f.file, nil
	}
	path, ok, err := config.LookupVar(f.envFile, os.Environ(), "REVERB_CHANNELS_FILE")
	if err != nil {
		return "", err
	}
	if !ok || path == "" {
		return "", errors.New("no catalogue: give its FILE or set REVERB_CHANNELS_FILE")
	}
	return path, nil
}

// load loads the catalogue and writes its problems, one line each, to stderr; it returns
// the catalogue only if there are none.
func (f *channelsFlags) load(stderr io.Writer) (*catalogue.Catalogue, error) {
	path, err := f.catalogueFile()
	if err != nil {
		return nil, err
	}
	c, err := catalogue.Load(path)
	var problems catalogue.Problems
	switch {
	case errors.As(err, &problems):
	case err != nil:
		return nil, err
	default:
		problems = catalogue.Check(c)
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, p)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %d %s", path, len(problems), plural(len(problems), "problem", "problems"))
	}
	return c, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// channelsCheck is `reverbd channels check [FILE]`: one line per problem on stderr and exit
// status 1 if there is any; else a summary of the entries on stdout.
func channelsCheck(args []string, stdout, stderr io.Writer) int {
	f := newChannelsFlags("check", channelsCheckSynopsis, stderr)
	if err := f.parse(args); err != nil {
		return exitCode(err, stderr)
	}
	c, err := f.load(stderr)
	if err != nil {
		return exitCode(err, stderr)
	}
	for _, e := range c.Entries {
		kinds := make([]string, len(e.Kinds))
		for i, k := range e.Kinds {
			kinds[i] = catalogue.Wire(k, e.Cache, e.Pattern)
		}
		fmt.Fprintf(stdout, "%-20s %s\n", e.Name, strings.Join(kinds, " "))
	}
	fmt.Fprintf(stdout, "%s: %d %s, no problem\n", c.File, len(c.Entries), plural(len(c.Entries), "entry", "entries"))
	return 0
}
