--
-- Wrong use of recordchange() fails loudly, with the trigger protocol's
-- error code; a table without a primary key is refused.
--
\set VERBOSITY default
CREATE TABLE target (id int PRIMARY KEY, v text);
CREATE TABLE keyless (a int, b text);

-- not as a trigger
SELECT recordchange();

-- BEFORE
CREATE TRIGGER wrong_before BEFORE INSERT ON target
    FOR EACH ROW EXECUTE FUNCTION recordchange();
INSERT INTO target VALUES (1, 'x');
DROP TRIGGER wrong_before ON target;

-- FOR EACH STATEMENT on a row operation
CREATE TRIGGER wrong_statement AFTER UPDATE ON target
    FOR EACH STATEMENT EXECUTE FUNCTION recordchange();
UPDATE target SET v = 'y';
DROP TRIGGER wrong_statement ON target;

-- INSTEAD OF on a view
CREATE VIEW target_view AS SELECT * FROM target;
CREATE TRIGGER wrong_instead INSTEAD OF INSERT ON target_view
    FOR EACH ROW EXECUTE FUNCTION recordchange();
INSERT INTO target_view VALUES (2, 'z');

-- FOR EACH ROW on TRUNCATE: PostgreSQL itself refuses it
CREATE TRIGGER wrong_truncate AFTER TRUNCATE ON target
    FOR EACH ROW EXECUTE FUNCTION recordchange();

-- a table without primary key, attached by hand
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON keyless
    FOR EACH ROW EXECUTE FUNCTION recordchange();
CREATE TRIGGER capture_truncate AFTER TRUNCATE ON keyless
    FOR EACH STATEMENT EXECUTE FUNCTION recordchange();
INSERT INTO keyless VALUES (1, 'x');
TRUNCATE keyless;
-- a key added later is seen at once
ALTER TABLE keyless ADD PRIMARY KEY (a);
INSERT INTO keyless VALUES (1, 'x');
-- and its loss too
ALTER TABLE keyless DROP CONSTRAINT keyless_pkey;
UPDATE keyless SET b = 'y';

-- the error codes
\set VERBOSITY sqlstate
INSERT INTO target_view VALUES (3, 'z');
UPDATE keyless SET b = 'y';
\set VERBOSITY default

-- none of the refused changes reached the table or the queue
SELECT * FROM target;
SELECT * FROM keyless;
SELECT n, table_name, op, key, data FROM queue;
SELECT clear_queue();
