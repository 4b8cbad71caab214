package registry

// bookSignin is one signed-in socket of the node's record.
type bookSignin struct{ app, socket, user string }

func (b *nodeBook) signin(app, socket, user string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.users == nil {
		b.users = map[bookKey]string{}
	}
	b.users[bookKey{app, socket}] = user
}

func (b *nodeBook) signout(app, socket string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.users, bookKey{app, socket})
}

// signedIn returns the user socket is signed in as, or "".
func (b *nodeBook) signedIn(app, socket string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.users[bookKey{app, socket}]
}

// signins returns every signin of the record.
func (b *nodeBook) signins() []bookSignin {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]bookSignin, 0, len(b.users))
	for k, user := range b.users {
		out = append(out, bookSignin{k.app, k.socket, user})
	}
	return out
}
