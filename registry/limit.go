package registry

// LimitOr turns a limit given to api.Params or ws.Params into the one enforced: 0 takes def,
// a negative value means no limit (0).
func LimitOr(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}
