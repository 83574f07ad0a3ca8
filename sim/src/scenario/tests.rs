//! Tests of arrivals: seeded draws, ordering and stream independence.
