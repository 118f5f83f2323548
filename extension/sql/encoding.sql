--
-- The row encoding of docs/FORMAT.md: names and values quoted, NULL versus
-- the empty string, multibyte text, dropped, generated and identity
-- columns, composite keys in attnum order.  Every encoding shown is also
-- compared with one written out by hand, and replayed to a copy.
--

-- Names that need quoting: schema, table and columns.
CREATE SCHEMA "Sch""ema ü";
CREATE TABLE "Sch""ema ü"."Order Lines" (
    id int PRIMARY KEY,
    "a""b" text,
    "naïve col" text,
    "x=y" text
);
SELECT dbmirror_add_table('"Sch""ema ü"."Order Lines"');
INSERT INTO "Sch""ema ü"."Order Lines" VALUES
    (1, 'it''s', 'C:\tmp\new', '='),
    (2, NULL, '', ' '),
    (3, E'line1\nline2', E'tab\there', 'ünï€😀'),
    (4, '"x"=''y'' ', E'\\''', '''');
SELECT n, table_name, op, key, data FROM queue;
SELECT n,
       data = CASE n
         WHEN 1 THEN $$"id"='1' "a""b"='it''s' "naïve col"='C:\\tmp\\new' "x=y"='=' $$
         WHEN 2 THEN $$"id"='2' "a""b"= "naïve col"='' "x=y"=' ' $$
         WHEN 3 THEN E'"id"=''3'' "a""b"=''line1\nline2'' "naïve col"=''tab\there'' "x=y"=''ünï€😀'' '
         WHEN 4 THEN $$"id"='4' "a""b"='"x"=''y'' ' "naïve col"='\\''' "x=y"='''' $$
       END AS as_written_by_hand
  FROM queue ORDER BY n;

-- the same rows read back by a replay into a copy
CREATE TABLE replica."Order Lines" (LIKE "Sch""ema ü"."Order Lines");
SELECT replay();
SELECT same_as_replica('"Sch""ema ü"."Order Lines"');
SELECT id, "a""b" IS NULL AS a_null, "naïve col" = '' AS naive_empty
  FROM replica."Order Lines" WHERE id = 2;

-- Dropped and generated columns are never written; identity columns are.
CREATE TABLE shapes (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gone text,
    w int,
    h int,
    area int GENERATED ALWAYS AS (w * h) STORED,
    label text
);
SELECT dbmirror_add_table('shapes');
INSERT INTO shapes (gone, w, h, label) VALUES ('still here', 2, 3, 'small');
ALTER TABLE shapes DROP COLUMN gone;
INSERT INTO shapes (w, h, label) VALUES (4, 5, 'big');
UPDATE shapes SET w = w + 1 WHERE id = 2;
ALTER TABLE shapes ADD COLUMN colour text DEFAULT 'red';
UPDATE shapes SET label = 'first' WHERE id = 1;
DELETE FROM shapes WHERE id = 2;
-- renames reach the next change at once
ALTER TABLE shapes RENAME COLUMN label TO "Title";
ALTER TABLE shapes RENAME TO "Shapes";
ALTER TABLE "Shapes" ALTER COLUMN colour TYPE char(5);
UPDATE "Shapes" SET "Title" = 'renamed' WHERE id = 1;
ALTER TABLE "Shapes" RENAME TO shapes;
ALTER TABLE shapes RENAME COLUMN "Title" TO label;
SELECT n, table_name, op, key, data FROM queue;
-- An update carries the key and the columns it changed; one that keeps
-- its one-column key is logged as 'U', with no key row, its new row
-- starting with the key. Update 4's row
-- predates the column "colour": its value there is the stored default,
-- held differently from a value written in a tuple, so it counts as
-- changed and is written (never the other way round).
SELECT n,
       coalesce(data, key) = CASE n
         WHEN 1 THEN $$"id"='1' "gone"='still here' "w"='2' "h"='3' "label"='small' $$
         WHEN 2 THEN $$"id"='2' "w"='4' "h"='5' "label"='big' $$
         WHEN 3 THEN $$"id"='2' "w"='5' $$
         WHEN 4 THEN $$"id"='1' "label"='first' "colour"='red' $$
         WHEN 5 THEN $$"id"='2' $$
         WHEN 6 THEN $$"id"='1' "Title"='renamed' $$
       END AS as_written_by_hand
  FROM queue ORDER BY n;
SELECT clear_queue();

-- Composite keys: the key row holds the key columns in attnum order,
-- whatever their order in the PRIMARY KEY clause; INCLUDE columns are not
-- part of the key. An update's new row lists the key first, then the
-- columns it changed; with more than one key column it keeps its key row
-- ('u') even when the key stays.
CREATE TABLE pairs (
    b text,
    v text,
    a int,
    PRIMARY KEY (a, b) INCLUDE (v)
);
SELECT dbmirror_add_table('pairs');
INSERT INTO pairs VALUES ('x', 'one', 1), ('y''z', 'two', 2);
UPDATE pairs SET v = 'uno' WHERE a = 1;
UPDATE pairs SET a = 20, b = 'w' WHERE a = 2;      -- the key changes
UPDATE pairs SET v = v WHERE a = 1;                -- nothing changes: still logged
DELETE FROM pairs WHERE a = 20;
SELECT n, op, key, data FROM queue;
SELECT n,
       key IS NOT DISTINCT FROM CASE n
         WHEN 3 THEN $$"b"='x' "a"='1' $$
         WHEN 4 THEN $$"b"='y''z' "a"='2' $$
         WHEN 5 THEN $$"b"='x' "a"='1' $$
         WHEN 6 THEN $$"b"='w' "a"='20' $$
       END AS key_as_written_by_hand
  FROM queue ORDER BY n;
CREATE TABLE replica.pairs (LIKE pairs);
SELECT replay();
SELECT same_as_replica('pairs');

-- A deferrable primary key is a primary key too.
CREATE TABLE deferred_key (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, v text);
SELECT dbmirror_add_table('deferred_key');
BEGIN;
INSERT INTO deferred_key VALUES (1, 'a'), (2, 'b');
UPDATE deferred_key SET id = 3 - id;
COMMIT;
SELECT n, op, key, data FROM queue;
SELECT clear_queue();

-- Values whose text holds quotes, backslashes and separators of their own.
CREATE TABLE texts (id int PRIMARY KEY, j jsonb, arr text[], r int4range, c point);
SELECT dbmirror_add_table('texts');
INSERT INTO texts VALUES
    (1, '{"k": "a\\b \"q\" it''s"}', ARRAY['a b', 'c"d', 'e\f', NULL, ''], '[1,5)', '(1.5,-2)');
SELECT data FROM queue;
SELECT data = $$"id"='1' "j"='{"k": "a\\\\b \\"q\\" it''s"}' "arr"='{"a b","c\\"d","e\\\\f",NULL,""}' "r"='[1,5)' "c"='(1.5,-2)' $$
       AS as_written_by_hand
  FROM queue;
CREATE TABLE replica.texts (LIKE texts);
SELECT replay();
SELECT same_as_replica('texts');

-- A row too wide for a heap page: its queue row is toasted like any other.
CREATE TABLE wide (id int PRIMARY KEY, body text);
SELECT dbmirror_add_table('wide');
INSERT INTO wide VALUES (1, repeat('x''y', 100000));
UPDATE wide SET body = body || 'z' WHERE id = 1;
SELECT n, op, key, length(data) AS data_length,
       data = $$"id"='1' "body"='$$ || repeat('x''''y', 100000) || CASE n WHEN 2 THEN 'z' ELSE '' END || $$' $$
           AS as_expected
  FROM queue ORDER BY n;
SELECT pg_column_size("Data") < octet_length("Data") AS stored_compressed
  FROM "PendingData" ORDER BY "SeqId", "IsKey" DESC;
CREATE TABLE replica.wide (LIKE wide);
SELECT replay();
SELECT same_as_replica('wide');
