package registry

// smallSet is the most sockets a socketSet keeps in a list. Most channels (a user's or an
// order's private channel) have one or two, and a map costs hundreds of bytes even then.
const smallSet = 8

// socketSet is the sockets subscribed to one channel, each with its presence user id ("" on
// other channels): a list searched in order while it is small, a map past smallSet
// sockets, and a list again once it shrinks to half of that.
type socketSet struct {
	few  []socketUser
	many map[string]string // nil while few is used
}

type socketUser struct{ socket, user string }

func (s *socketSet) len() int {
	if s.many != nil {
		return len(s.many)
	}
	return len(s.few)
}

// get returns the user id of socket, reporting whether socket is in the set.
func (s *socketSet) get(socket string) (string, bool) {
	if s.many != nil {
		user, ok := s.many[socket]
		return user, ok
	}
	for _, e := range s.few {
		if e.socket == socket {
			return e.user, true
		}
	}
	return "", false
}

// add puts socket in the set; it must not be there yet.
func (s *socketSet) add(socket, user string) {
	switch {
	case s.many != nil:
		s.many[socket] = user
	case len(s.few) < smallSet:
		s.few = append(s.few, socketUser{socket, user})
	default:
		s.many = make(map[string]string, 2*smallSet)
		for _, e := range s.few {
			s.many[e.socket] = e.user
		}
		s.many[socket] = user
		s.few = nil
	}
}

// remove takes socket out of the set and returns its user id, reporting whether it was there.
func (s *socketSet) remove(socket string) (string, bool) {
	if s.many == nil {
		for i, e := range s.few {
			if e.socket == socket {
				last := len(s.few) - 1
				s.few[i] = s.few[last]
				s.few[last] = socketUser{}
				s.few = s.few[:last]
				return e.user, true
			}
		}
		return "", false
	}
	user, ok := s.many[socket]
	if !ok {
		return "", false
	}
	delete(s.many, socket)
	if len(s.many) <= smallSet/2 {
		s.few = make([]socketUser, 0, smallSet)
		for socket, user := range s.many {
			s.few = append(s.few, socketUser{socket, user})
		}
		s.many = nil
	}
	return user, true
}
