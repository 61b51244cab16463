/**
 * TCP keepalive for every connection we open. Pools keep a connection
 * through idle spells, and the LISTEN connection is silent whenever no job
 * comes. A NAT or cloud load balancer forgets a connection silent for a few
 * minutes (AWS's NAT gateway after 350 s) and then drops its packets without
 * a word, so the next query would hang until TCP gave up. A probe after 30 s
 * of silence keeps the path open.
 */
export const KEEP_ALIVE = { keepAlive: true, keepAliveInitialDelayMillis: 30_000 } as const;
