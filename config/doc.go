// Package config holds reverbd's settings: the server, its apps and its queue, read from
// the same variables a Laravel app keeps in its .env (Laravel Reverb's configuration).
//
// [Load] builds a [Config] in four steps:
//
//  1. Read the .env file with godotenv and overlay the given environment: a variable set in
//     the environment wins over the file, as in Laravel. ${NAME} and $NAME in an unquoted or
//     double-quoted file value expand from the environment first, then from the file.
//  2. Apply Laravel's env() value rules to every value: true and (true) mean true, false and
//     (false) mean false, empty and (empty) mean the empty string, and null, (null) and an
//     empty value mean "not set", so the default applies. Matching surrounding quotes are
//     stripped.
//  3. Fill the tagged fields of Config with envconfig. Field comments in config.go are the
//     reference of every variable; .env.example lists each one with its default.
//  4. Build [Config.Apps] from the REVERB_APP_* variables and the JSON apps file named by
//     REVERB_APPS_FILE, then check everything with [Config.Validate].
//
// Errors are single lines that name the variable or the apps-file field at fault. They never
// contain an app secret or a Redis password.
//
// The package owns no goroutines and does no I/O after Load returns but in
// [Config.Certificate]. It does not watch the files: `reverbd start` calls Load again on
// SIGHUP and applies the apps, the TLS certificate and the log level; any other change needs
// a restart.
package config
