package mparticle_test

import (
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
	"github.com/namiml/mparticle-bridge/shared/transform/transformtest"
)

func init() {
	for _, typ := range event.AllTypes {
		ev, err := event.Decode(eventtest.Sample(typ))
		if err != nil {
			panic(err)
		}
		feed := transformtest.FeedFor(typ)
		res, err := transform.ToBatch(ev, &feed)
		if err != nil {
			panic(err)
		}
		mparticle.TypeBatches = append(mparticle.TypeBatches, mparticle.NamedBatch{Name: string(typ), Batch: res.Batch})
	}
}
