package task

import "testing"

func FuzzDecodeCursor(f *testing.F) {
	for _, c := range []Cursor{
		{Sort: SortCreatedAt, Value: "2026-01-01T00:00:00Z", ID: 1},
		{Sort: SortDueAt, Value: "infinity", ID: 2, Desc: true},
		{Sort: SortPriority, Value: "high", ID: 3},
		{Sort: SortTitle, Value: "Buy ✓", ID: 4},
	} {
		f.Add(c.Encode(), c.Sort, c.Desc)
	}
	f.Add("", SortCreatedAt, false)
	f.Add("eyJzIjoiY3JlYXRlZF9hdCIsInYiOiIiLCJpIjotMX0", SortCreatedAt, false)
	f.Fuzz(func(t *testing.T, s, sort string, desc bool) {
		c, err := DecodeCursor(s, sort, desc)
		if err != nil {
			return
		}
		// Whatever decodes is well-formed and survives a round trip.
		if c.ID <= 0 || c.Sort != sort || c.Desc != desc {
			t.Fatalf("accepted a bad cursor: %+v", c)
		}
		again, err := DecodeCursor(c.Encode(), sort, desc)
		if err != nil || again != c {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}
