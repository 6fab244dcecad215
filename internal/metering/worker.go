package metering

import (
	"context"
	"log/slog"
	"time"
)

// Run makes records for closed hours, records the usage.unbilled events of
// those hours when the Maker has a Coverage with Events, and sends what is
// pending, every interval, until ctx ends. Several processes may run it on
// one database: record creation locks each subscription, sending leases
// each record, and each usage.unbilled event has its marker row. With
// several marketplaces there is a sender for each (#15), one after the
// other: each has its own quota.
func Run(ctx context.Context, logger *slog.Logger, maker *Maker, every time.Duration, senders ...*Sender) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := maker.MakeRecords(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("make metering records", "err", err)
		} else if n > 0 {
			logger.Info("metering records made", "records", n)
		}
		if n, err := maker.cfg.Unbilled.RecordUnbilled(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("record usage.unbilled events", "err", err)
		} else if n > 0 {
			logger.Info("usage.unbilled events recorded", "events", n)
		}
		for _, sender := range senders {
			if n, err := sender.SendPending(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("send metering records", "err", err)
			} else if n > 0 {
				logger.Info("metering records accepted", "records", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
