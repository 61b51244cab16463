-- pg-supervisor schema, version 9: what a handler returned. Null when it
-- returned nothing (undefined), and for every job that did not succeed.
alter table jobs add column result jsonb;
