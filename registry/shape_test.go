package registry

import "testing"

func TestShape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, want string }{
		{"orders", "orders"},
		{"private-tenant.42.admins", "private-tenant.{id}.admins"},
		{"private-App.Models.User.7", "private-App.Models.User.{id}"},
		{"presence-chat.room-42", "presence-chat.room-{id}"},
		{"private-encrypted-cache-doc.9", "private-encrypted-cache-doc.{id}"},
		{"presence-cache-1", "presence-cache-{id}"},
		{"private-order.3f2b6c1e-8d4a-4b7e-9c2d-1a2b3c4d5e6f.items", "private-order.{id}.items"},
		{"private-order.3F2B6C1E-8D4A-4B7E-9C2D-1A2B3C4D5E6F", "private-order.{id}"},
		{"private-file.01hq3v8x2k9m7n6p5r4s3t2w1y", "private-file.{id}"},
		{"cache-prices.eur", "cache-prices.eur"},
		{"private-team_7_members", "private-team_{id}_members"},
		{"private-deadline.a1", "private-deadline.a1"}, // short and not a number: a word
		{"#server-to-user-abc", "#server-to-user-{id}"},
		{"private-42", "private-{id}"},
		{"12.34", "{id}.{id}"},
	} {
		if got := Shape(tc.name); got != tc.want {
			t.Errorf("Shape(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestKindName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, want string }{
		{"orders", "public"},
		{"private-x", "private"},
		{"presence-x", "presence"},
		{"private-encrypted-x", "private-encrypted"},
		{"private-encrypted-cache-x", "private-encrypted-cache"},
		{"private-cache-x", "private-cache"},
		{"presence-cache-x", "presence-cache"},
		{"cache-x", "cache"},
		{"#server-to-user-1", "user"},
	} {
		if got := KindOf(tc.name).Name(); got != tc.want {
			t.Errorf("KindOf(%q).Name() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func BenchmarkShape(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Shape("private-tenant.42.admins")
	}
}
