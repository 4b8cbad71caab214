package config

// LookupVar returns one variable as Load would see it: from environ (in os.Environ form), else
// from the env file (empty: ./.env, which may be missing), after Laravel's value rules. It
// serves commands that need a single setting without a whole valid configuration, such as
// `reverbd channels check` finding REVERB_CHANNELS_FILE.
func LookupVar(envFile string, environ []string, name string) (string, bool, error) {
	vars, err := readVars(envFile, environ)
	if err != nil {
		return "", false, err
	}
	v, ok := vars[name]
	return v, ok, nil
}
