package registry

import "context"

// appSignins is an app's signed-in connections in a MemoryOccupancy.
type appSignins struct {
	users map[string]string // socket id → user id
	conns map[string]int    // user id → signed-in connections
	seq   uint64            // the number of the app's last online event
}

// NotifyOnline implements OnlineNotifier.
func (o *MemoryOccupancy) NotifyOnline(f func(OnlineEvent)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.online = f
}

// appSignins returns the signins of appID, creating them. Called with o.mu held.
func (o *MemoryOccupancy) appSignins(appID string) *appSignins {
	if o.signins == nil {
		o.signins = map[string]*appSignins{}
	}
	a := o.signins[appID]
	if a == nil {
		a = &appSignins{users: map[string]string{}, conns: map[string]int{}}
		o.signins[appID] = a
	}
	return a
}

// tellOnline numbers an online event of the app and passes it to the online function.
// Called with o.mu held.
func (o *MemoryOccupancy) tellOnline(a *appSignins, appID, userID string, online bool) {
	a.seq++
	if o.online != nil {
		o.online(OnlineEvent{AppID: appID, UserID: userID, Online: online, Seq: a.seq})
	}
}

// SignIn implements Occupancy.
func (o *MemoryOccupancy) SignIn(_ context.Context, appID, socketID, userID string, watchlist []string) (Watched, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.appSignins(appID)
	if cur, ok := a.users[socketID]; !ok || cur != userID {
		if ok {
			o.signOut(a, appID, socketID)
		}
		a.users[socketID] = userID
		a.conns[userID]++
		if a.conns[userID] == 1 {
			o.tellOnline(a, appID, userID, true)
		}
	}
	return o.watched(a, watchlist), nil
}

// watched reports which of users are online in a. Called with o.mu held.
func (o *MemoryOccupancy) watched(a *appSignins, users []string) Watched {
	w := Watched{Seq: a.seq}
	for _, id := range users {
		if a.conns[id] > 0 {
			w.Online = append(w.Online, id)
		}
	}
	return w
}

// Watched implements OnlineReader.
func (o *MemoryOccupancy) Watched(_ context.Context, appID string, users []string) (Watched, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.watched(o.appSignins(appID), users), nil
}

// SignOut implements Occupancy.
func (o *MemoryOccupancy) SignOut(_ context.Context, appID, socketID string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if a := o.signins[appID]; a != nil {
		o.signOut(a, appID, socketID)
	}
	return nil
}

// signOut removes the signin of socketID, if any. Called with o.mu held.
func (o *MemoryOccupancy) signOut(a *appSignins, appID, socketID string) {
	userID, ok := a.users[socketID]
	if !ok {
		return
	}
	delete(a.users, socketID)
	if a.conns[userID]--; a.conns[userID] > 0 {
		return
	}
	delete(a.conns, userID)
	o.tellOnline(a, appID, userID, false)
}
