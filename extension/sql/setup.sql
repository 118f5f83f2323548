--
-- Load the queue schema and the capture, check that loading again keeps
-- queued rows, and create the helpers the other tests share: a readable
-- view of the queue, and a replay that applies the queue in SeqId order to
-- copies of the tables in schema "replica".
--
\set ECHO none
\i MirrorSetup.sql
\set ECHO all
\set ON_ERROR_STOP 0
RESET client_min_messages;

SELECT p.proname, p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AS is_c,
       p.probin
  FROM pg_proc p WHERE p.proname = 'recordchange';
-- the row format the capture writes (docs/FORMAT.md)
SELECT dbmirror_queue_format();

-- queued rows survive a second run of the setup
CREATE TABLE kept (id int PRIMARY KEY, v text);
SELECT dbmirror_add_table('kept');
INSERT INTO kept VALUES (1, 'before the second setup');
\set ECHO none
\i MirrorSetup.sql
\set ECHO all
\set ON_ERROR_STOP 0
RESET client_min_messages;
SELECT "TableName", "Op" FROM "Pending";
SELECT "IsKey", "Data" FROM "PendingData";
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'kept'::regclass;

-- no right on the queue for PUBLIC
SELECT c.relname,
       has_table_privilege('public', c.oid, 'SELECT') AS may_select,
       has_table_privilege('public', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE') AS may_change,
       CASE WHEN c.relkind = 'S' THEN has_sequence_privilege('public', c.oid, 'USAGE') END AS may_use_seq
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace
   AND c.relname IN ('MirrorMaster', 'MirrorHost', 'MirrorHost_MirrorHostId_seq',
                     'Pending', 'Pending_SeqId_seq', 'PendingData', 'PendingMark',
                     'MirroredTransaction', 'MirroredSequence')
 ORDER BY 1;
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_run
  FROM pg_proc p
 WHERE p.proname IN ('recordchange', 'dbmirror_add_table', 'dbmirror_remove_table',
                     'dbmirror_add_sequence')
 ORDER BY 1;

-- The queue, one line per change: n counts from 1, key is the old key row
-- of an update or delete, data the new row of an insert or update ('U', an
-- update that kept its one-column key, has no key row: its new row starts
-- with the key).
CREATE VIEW queue AS
SELECT row_number() OVER (ORDER BY p."SeqId") AS n,
       p."TableName" AS table_name, p."Op" AS op, k."Data" AS key, d."Data" AS data
  FROM "Pending" p
  LEFT JOIN "PendingData" k ON k."SeqId" = p."SeqId" AND k."IsKey"
  LEFT JOIN "PendingData" d ON d."SeqId" = p."SeqId" AND NOT d."IsKey"
 ORDER BY p."SeqId";

-- Empty the queue; fails if a change lacks the rows its op needs, or has
-- rows it must not have.
CREATE FUNCTION clear_queue() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(format('%s %s', p."SeqId", p."Op"), ', ') INTO bad
      FROM "Pending" p
     WHERE (SELECT count(*) FROM "PendingData" d
             WHERE d."SeqId" = p."SeqId" AND d."IsKey")
           <> CASE WHEN p."Op" IN ('u', 'd') THEN 1 ELSE 0 END
        OR (SELECT count(*) FROM "PendingData" d
             WHERE d."SeqId" = p."SeqId" AND NOT d."IsKey")
           <> CASE WHEN p."Op" IN ('i', 'u', 'U') THEN 1 ELSE 0 END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'malformed changes in the queue: %', bad;
    END IF;
    IF EXISTS (SELECT FROM "PendingData" d
                WHERE NOT EXISTS (SELECT FROM "Pending" p WHERE p."SeqId" = d."SeqId")) THEN
        RAISE EXCEPTION 'orphan rows in "PendingData"';
    END IF;
    DELETE FROM "PendingData";
    DELETE FROM "Pending";
END
$fn$;

-- The pairs of an encoded row (docs/FORMAT.md), decoded; fails on anything
-- the grammar does not allow.
CREATE FUNCTION decode_row(data text, OUT name text, OUT value text)
RETURNS SETOF record LANGUAGE plpgsql AS $fn$
DECLARE
    m text[];
    rest text := data;
BEGIN
    WHILE rest <> '' LOOP
        m := regexp_match(rest,
            $re$^"((?:[^"]|"")+)"=(?:'((?:[^'\\]|''|\\\\)*)')? (.*)$$re$);
        IF m IS NULL THEN
            RAISE EXCEPTION 'bad encoded row at: %', rest;
        END IF;
        name := replace(m[1], '""', '"');
        value := replace(replace(m[2], '''''', ''''), '\\', '\');
        RETURN NEXT;
        rest := m[3];
    END LOOP;
END
$fn$;

-- Apply the queue in SeqId order to replica.<table>, then empty it, as the
-- replayer would.  Each update and delete must hit exactly one row.
CREATE SCHEMA replica;
CREATE FUNCTION replay() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    c record;
    target text;
    cols text;
    vals text;
    sets text;
    cond text;
    n bigint;
BEGIN
    FOR c IN SELECT p."SeqId", p."TableName", p."Op",
                    k."Data" AS key, d."Data" AS data
               FROM "Pending" p
               LEFT JOIN "PendingData" k ON k."SeqId" = p."SeqId" AND k."IsKey"
               LEFT JOIN "PendingData" d ON d."SeqId" = p."SeqId" AND NOT d."IsKey"
              ORDER BY p."SeqId"
    LOOP
        target := format('replica.%I', (parse_ident(c."TableName"))[2]);
        IF c."Op" = 'U' THEN
            SELECT format('%I = %L', name, value) INTO cond
              FROM decode_row(c.data) LIMIT 1;
        ELSE
            SELECT string_agg(format('%I = %L', name, value), ' AND ') INTO cond
              FROM decode_row(c.key);
        END IF;
        IF c."Op" = 'i' THEN
            SELECT string_agg(quote_ident(name), ', '), string_agg(quote_nullable(value), ', ')
              INTO cols, vals FROM decode_row(c.data);
            EXECUTE format('INSERT INTO %s (%s) VALUES (%s)', target, cols, vals);
        ELSIF c."Op" IN ('u', 'U') THEN
            SELECT string_agg(format('%I = %L', name, value), ', ') INTO sets
              FROM decode_row(c.data);
            EXECUTE format('UPDATE %s SET %s WHERE %s', target, sets, cond);
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n <> 1 THEN
                RAISE EXCEPTION 'change % updated % rows of %', c."SeqId", n, target;
            END IF;
        ELSIF c."Op" = 'd' THEN
            EXECUTE format('DELETE FROM %s WHERE %s', target, cond);
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n <> 1 THEN
                RAISE EXCEPTION 'change % deleted % rows of %', c."SeqId", n, target;
            END IF;
        ELSIF c."Op" = 't' THEN
            EXECUTE format('DELETE FROM %s', target);
        ELSE
            RAISE EXCEPTION 'unknown op %', c."Op";
        END IF;
    END LOOP;
    PERFORM clear_queue();
END
$fn$;

-- Does replica.<table> hold exactly the rows of the master table?  Rows
-- are compared by their text, so types without equality compare too.
CREATE FUNCTION same_as_replica(tab regclass) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    copy text := format('replica.%I', (SELECT relname FROM pg_class WHERE oid = tab));
    differing bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ('
                   '(SELECT master_row::text FROM %s master_row EXCEPT ALL '
                   'SELECT replica_row::text FROM %s replica_row) UNION ALL '
                   '(SELECT replica_row::text FROM %s replica_row EXCEPT ALL '
                   'SELECT master_row::text FROM %s master_row)) x',
                   tab, copy, copy, tab)
      INTO differing;
    RETURN differing = 0;
END
$fn$;

-- decode_row reads what the grammar allows
SELECT *, value IS NULL AS is_null FROM decode_row($$"a"='1' "b"= "c"='' "d""e"='x''y\\z' "f"=' ' $$);
SELECT * FROM decode_row($$"a"='1'$$);

-- dbmirror_add_table: triggers, owned sequences, refusals
CREATE TABLE serials (id bigserial PRIMARY KEY,
                      ident int GENERATED ALWAYS AS IDENTITY,
                      other serial, v text);
SELECT dbmirror_add_table('serials');
SELECT dbmirror_add_table('serials');   -- again: harmless
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'serials'::regclass ORDER BY 1;
SELECT "SequenceName" FROM "MirroredSequence" ORDER BY "SequenceName"::text;
CREATE SEQUENCE free_seq;
SELECT dbmirror_add_sequence('free_seq');
SELECT dbmirror_add_sequence('free_seq');
SELECT dbmirror_add_sequence('serials');
SELECT "SequenceName" FROM "MirroredSequence" ORDER BY "SequenceName"::text;
SELECT dbmirror_remove_table('serials');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'serials'::regclass;
SELECT "SequenceName" FROM "MirroredSequence" ORDER BY "SequenceName"::text;
INSERT INTO serials (v) VALUES ('not mirrored any more');
CREATE TABLE no_key (a int, b text);
SELECT dbmirror_add_table('no_key');
CREATE VIEW a_view AS SELECT 1 AS x;
SELECT dbmirror_add_table('a_view');
CREATE TABLE by_hand (id int PRIMARY KEY);
CREATE TRIGGER mine AFTER INSERT OR UPDATE OR DELETE ON by_hand
    FOR EACH ROW EXECUTE FUNCTION recordchange();
SELECT dbmirror_add_table('by_hand');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'by_hand'::regclass;

SELECT * FROM queue;
SELECT clear_queue();
