package usage

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// TestNew_WritersLeaveHalfThePool: by default the PostgreSQL writers hold
// at most half of the database pool's connections, which the careful way,
// pruning and the rest of the application share; a setting is taken as it
// is.
func TestNew_WritersLeaveHalfThePool(t *testing.T) {
	schema := storetest.URL(t, "postgres") // one schema, a pool of each size on it
	for _, tc := range []struct {
		maxConns, writers, want int
	}{
		{maxConns: 2, want: 1},
		{maxConns: 3, want: 1},
		{maxConns: 4, want: 2},
		{maxConns: 10, want: 2},
		{maxConns: 2, writers: 3, want: 3},
	} {
		db := storetest.OpenURL(t, schema+"&pool_max_conns="+strconv.Itoa(tc.maxConns))
		in, err := New(Config{DB: db, Meters: oneMeter{}, Logger: slog.New(slog.DiscardHandler), Now: time.Now, Writers: tc.writers})
		if err != nil {
			t.Fatal(err)
		}
		if in.cfg.Writers != tc.want {
			t.Errorf("pool of %d, Writers %d: %d writers, want %d", tc.maxConns, tc.writers, in.cfg.Writers, tc.want)
		}
	}
}
