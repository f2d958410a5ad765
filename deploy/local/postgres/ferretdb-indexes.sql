-- Indexes that FerretDB's queries can use, created by PostgreSQL itself.
--
-- FerretDB 1.x pushes an equality filter down as `_jsonb -> 'field' @> '<value>'` (jsonb
-- containment), but the indexes it creates for `createIndexes` are btree indexes on
-- `(_jsonb -> 'field')`, which can serve `=` and ranges, never `@>`. Every such query would scan the
-- whole table. This event trigger gives each field that FerretDB indexes a GIN index on the same
-- expression (`jsonb_path_ops`, the operator class made for `@>`), the moment FerretDB creates its
-- own; `ii_mirror_existing()` does the same for indexes made before the trigger existed.
--
-- So the product's own index definitions (shared/src/incident_shared/mongo.py) decide what is
-- indexed, on MongoDB and here alike. Only top-level fields are mirrored: FerretDB does not push
-- down dotted paths. Idempotent: run at every start by deploy/local/postgres.sh.

SET client_min_messages = warning;

CREATE OR REPLACE FUNCTION ii_mirror_index(index_oid oid) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  table_oid regclass;
  table_name text;
  method text;
  definition text;
  found text[];
  field text;
  created integer := 0;
BEGIN
  SELECT i.indrelid::regclass, t.relname, am.amname, pg_get_indexdef(i.indexrelid)
    INTO table_oid, table_name, method, definition
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_am am ON am.oid = c.relam
   WHERE i.indexrelid = index_oid;
  IF method IS DISTINCT FROM 'btree' OR table_name LIKE '\_ferretdb\_%' THEN
    RETURN 0;  -- our own GIN indexes, and FerretDB's metadata tables, are left alone
  END IF;
  -- pg_get_indexdef prints a top-level field as `((_jsonb -> 'name'::text))`; a nested one has
  -- another `->` between the quote and the closing parentheses, and does not match.
  FOR found IN SELECT regexp_matches(definition, '\(_jsonb -> ''((?:[^'']|'''')+)''::text\)\)', 'g') LOOP
    field := replace(found[1], '''''', '''');
    EXECUTE format(
      'CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((_jsonb -> %L) jsonb_path_ops) WITH (fastupdate = off)',
      left(table_name, 40) || '_' || left(md5(field), 12) || '_gin', table_oid, field);
    created := created + 1;
  END LOOP;
  RETURN created;
END $$;

CREATE OR REPLACE FUNCTION ii_mirror_new_indexes() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  command record;
BEGIN
  FOR command IN SELECT objid FROM pg_event_trigger_ddl_commands()
                  WHERE command_tag = 'CREATE INDEX' AND object_type = 'index' LOOP
    PERFORM ii_mirror_index(command.objid);
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION ii_mirror_existing() RETURNS integer
LANGUAGE sql AS $$
  SELECT coalesce(sum(ii_mirror_index(i.indexrelid)), 0)::integer
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
$$;

-- Our GIN indexes are written as rows come (`fastupdate = off`): with PostgreSQL's default, new
-- entries wait in a pending list of up to 4 MB that every lookup reads whole until a vacuum merges
-- it, which made an event read by `_id` read 195 pages and take 13 ms instead of 5 pages and 0.14 ms
-- (1,000,000 events). Indexes made before this setting are switched and their pending list merged.
CREATE OR REPLACE FUNCTION ii_gin_without_pending_lists() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  index_oid oid;
  switched integer := 0;
BEGIN
  FOR index_oid IN
    SELECT c.oid FROM pg_class c
      JOIN pg_am am ON am.oid = c.relam
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE am.amname = 'gin' AND c.relname LIKE '%\_gin'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND NOT coalesce(c.reloptions @> ARRAY['fastupdate=off'], false)
  LOOP
    EXECUTE format('ALTER INDEX %s SET (fastupdate = off)', index_oid::regclass);
    PERFORM gin_clean_pending_list(index_oid::regclass);
    switched := switched + 1;
  END LOOP;
  RETURN switched;
END $$;

DROP EVENT TRIGGER IF EXISTS ii_mirror_ferretdb_indexes;
CREATE EVENT TRIGGER ii_mirror_ferretdb_indexes ON ddl_command_end
  WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION ii_mirror_new_indexes();

SELECT ii_mirror_existing() AS gin_indexes_checked;
SELECT ii_gin_without_pending_lists() AS gin_indexes_switched;
