package jobs

import (
	"fmt"
	"log/slog"
)

// asynqLogger maps asynq's Logger onto slog.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...)) }

// Fatal logs at error level. asynq calls it only for unrecoverable start-up problems; the
// process is not ended from inside the library.
func (l asynqLogger) Fatal(args ...any) { l.log.Error(fmt.Sprint(args...)) }
