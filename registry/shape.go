package registry

import "strings"

// Name is the kind's label in metrics: public, private, presence, private-encrypted, cache,
// private-cache, presence-cache, private-encrypted-cache or user.
func (k Kind) Name() string {
	switch {
	case k.Has(KindUser):
		return "user"
	case k == KindPublic:
		return "public"
	case k == KindCache:
		return "cache"
	}
	for _, p := range prefixes {
		if p.kind == k {
			return strings.TrimSuffix(p.prefix, "-")
		}
	}
	return "public"
}

// IDPlaceholder stands for an id-like part of a channel name in its Shape.
const IDPlaceholder = "{id}"

// Shape is name with its id-like parts replaced by IDPlaceholder, so that the channels of
// one kind of model share one value that metrics may use as a label, unlike the names
// themselves: "private-tenant.42.admins" is "private-tenant.{id}.admins",
// "private-App.Models.User.7" is "private-App.Models.User.{id}". Parts are the runs between
// the separators . - _ : @ = , ; (the kind's prefix is kept as it is). A part is id-like when
// it is a number, or is at least 8 characters long with a digit in it (a hash, a ULID); a
// UUID is one id whatever its dashes. The id of #server-to-user-{id} is always replaced.
func Shape(name string) string {
	if _, ok := strings.CutPrefix(name, UserChannelPrefix); ok {
		return UserChannelPrefix + IDPlaceholder
	}
	start := 0
	for _, p := range prefixes {
		if strings.HasPrefix(name, p.prefix) {
			start = len(p.prefix)
			break
		}
	}
	var b strings.Builder
	kept := 0 // name[kept:start-of-current-part] is still to be copied
	for i := start; i < len(name); {
		if isShapeSeparator(name[i]) {
			i++
			continue
		}
		end := partEnd(name, i)
		if n := uuidAt(name, i); n > 0 {
			end = i + n
		} else if !idLike(name[i:end]) {
			i = end
			continue
		}
		if b.Cap() == 0 {
			b.Grow(len(name) + 2*len(IDPlaceholder))
		}
		b.WriteString(name[kept:i])
		b.WriteString(IDPlaceholder)
		kept, i = end, end
	}
	if kept == 0 {
		return name
	}
	b.WriteString(name[kept:])
	return b.String()
}

func isShapeSeparator(c byte) bool {
	switch c {
	case '.', '-', '_', ':', '@', '=', ',', ';':
		return true
	}
	return false
}

// partEnd returns the end of the part that starts at i.
func partEnd(name string, i int) int {
	for i < len(name) && !isShapeSeparator(name[i]) {
		i++
	}
	return i
}

// idLike reports whether a part is a number, or 8 characters or more with a digit.
func idLike(part string) bool {
	digits := 0
	for i := 0; i < len(part); i++ {
		if part[i] >= '0' && part[i] <= '9' {
			digits++
		}
	}
	return digits == len(part) || (len(part) >= 8 && digits > 0)
}

// uuidAt returns 36 when a UUID (8-4-4-4-12 hex digits) starts at i and ends a part, else 0.
func uuidAt(name string, i int) int {
	const n = 36
	if len(name)-i < n || (len(name)-i > n && !isShapeSeparator(name[i+n])) {
		return 0
	}
	for j := range n {
		c := name[i+j]
		switch j {
		case 8, 13, 18, 23:
			if c != '-' {
				return 0
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return 0
			}
		}
	}
	return n
}
