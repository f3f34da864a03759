package messages

import "time"

// SnapshotPublished is broadcast on a topic after the ZoneActor swaps in a
// new snapshot, so readiness and logs can follow what DNS now serves.
type SnapshotPublished struct {
	Serial     uint32 // the SOA serial of every zone in the snapshot
	Generation uint64 // the ConfigApplied generation it was built from
	Domains    int
	Healthy    int // backends served as healthy
	At         time.Time
}
