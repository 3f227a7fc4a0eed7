//! `event_channel.h`: the `EVTCHNOP_*` sub-ops and their argument structs.
