package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The catalogue of the env app and of apps-file apps is loaded and checked by Load; a
// missing file, a problem found by the catalogue's Check, or a mode without a catalogue is a
// clear error.
func TestChannelsCatalogue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("channels.yaml", "- {name: tenant, pattern: \"tenant.{id}\", kind: private}\n")
	overlap := write("overlap.yaml", "- {name: a, pattern: \"user.{id}\", kind: private}\n- {name: b, pattern: \"user.{id}\", kind: private}\n")
	files := 0
	appsFile := func(app string) string {
		files++
		return write(fmt.Sprintf("apps%d.json", files), `[{"app_id": "a", "key": "key-a", "secret": "s", `+app+`}]`)
	}
	envFile := write("empty.env", "")

	for _, tc := range []struct {
		name    string
		environ []string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{{
		name:    "env app strict",
		environ: append(appEnv(), "REVERB_CHANNELS_FILE="+good, "REVERB_CHANNELS_MODE=strict"),
		check: func(t *testing.T, c *Config) {
			a := &c.Apps[0]
			if a.Channels == nil || a.ChannelsMode != ChannelsStrict || !a.ChannelsEnforced() {
				t.Errorf("app %+v", a)
			}
			if _, ok := a.Channels.Match("private-tenant.5"); !ok {
				t.Error("private-tenant.5 not matched")
			}
		},
	}, {
		name:    "off with a catalogue is not enforced",
		environ: append(appEnv(), "REVERB_CHANNELS_FILE="+good),
		check: func(t *testing.T, c *Config) {
			if a := &c.Apps[0]; a.Channels == nil || a.ChannelsEnforced() {
				t.Errorf("app %+v", a)
			}
		},
	}, {
		name:    "missing file",
		environ: append(appEnv(), "REVERB_CHANNELS_FILE="+filepath.Join(dir, "nope.yaml")),
		wantErr: "config: REVERB_CHANNELS_FILE: open " + filepath.Join(dir, "nope.yaml"),
	}, {
		name:    "check problems",
		environ: append(appEnv(), "REVERB_CHANNELS_FILE="+overlap),
		wantErr: `config: REVERB_CHANNELS_FILE: ` + overlap + `: entry 2 (b, line 2): the pattern "user.{id}" overlaps`,
	}, {
		name:    "mode without catalogue",
		environ: append(appEnv(), "REVERB_CHANNELS_MODE=warn"),
		wantErr: "config: REVERB_CHANNELS_MODE is warn but the app has no channel catalogue: set REVERB_CHANNELS_FILE",
	}, {
		name:    "unknown mode",
		environ: append(appEnv(), "REVERB_CHANNELS_FILE="+good, "REVERB_CHANNELS_MODE=loud"),
		wantErr: `config: REVERB_CHANNELS_MODE must be off, warn or strict, got "loud"`,
	}, {
		name:    "file without the env app",
		environ: []string{"REVERB_APPS_FILE=" + appsFile(`"channels_file": "channels.yaml"`), "REVERB_CHANNELS_FILE=" + good},
		wantErr: "config: REVERB_CHANNELS_FILE is the catalogue of the REVERB_APP_* app",
	}, {
		name:    "apps file channels_file relative to the apps file",
		environ: []string{"REVERB_APPS_FILE=" + appsFile(`"channels_file": "channels.yaml", "channels_mode": "warn"`)},
		check: func(t *testing.T, c *Config) {
			if a := &c.Apps[0]; a.Channels == nil || a.ChannelsMode != ChannelsWarn {
				t.Errorf("app %+v", a)
			}
		},
	}, {
		name:    "apps file inline channels",
		environ: []string{"REVERB_APPS_FILE=" + appsFile(`"channels": [{"name": "user", "pattern": "user.{id}", "kind": "private"}], "channels_mode": "strict"`)},
		check: func(t *testing.T, c *Config) {
			if a := &c.Apps[0]; a.Channels == nil || a.Channels.Entry("user") == nil || a.ChannelsMode != ChannelsStrict {
				t.Errorf("app %+v", a)
			}
		},
	}, {
		name:    "apps file both",
		environ: []string{"REVERB_APPS_FILE=" + appsFile(`"channels_file": "channels.yaml", "channels": []`)},
		wantErr: `apps[0] (app_id "a"): channels_file and channels go apart`,
	}, {
		name:    "apps file mode without catalogue",
		environ: []string{"REVERB_APPS_FILE=" + appsFile(`"channels_mode": "strict"`)},
		wantErr: `apps[0] (app_id "a"): channels_mode is strict but the app has no channel catalogue: give the app channels_file or channels`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(envFile, tc.environ)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
