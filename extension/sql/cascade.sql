--
-- Cascades and nested triggers.  AFTER triggers do not fire in the order
-- rows change, yet replaying the queue in SeqId order must end in the
-- master's state: (a) foreign-key actions, (b) an AFTER trigger named
-- before the capture that changes the row it fired for again, with and
-- without changing the key, (c) one that writes other mirrored tables,
-- (d) nested changes undone by an exception block.  Each part shows the
-- queue, replays it into copies and compares them with the master.
--

-- (a) Foreign-key actions: ON UPDATE/DELETE CASCADE and SET NULL, and a
-- tree whose rows reference their own table (one references itself).
CREATE TABLE parent (id int PRIMARY KEY, name text);
CREATE TABLE child (id int PRIMARY KEY,
                    parent_id int REFERENCES parent ON DELETE CASCADE ON UPDATE CASCADE,
                    note text);
CREATE TABLE sibling (id int PRIMARY KEY,
                      parent_id int REFERENCES parent ON DELETE SET NULL ON UPDATE SET NULL);
CREATE TABLE node (id int PRIMARY KEY,
                   up int REFERENCES node ON DELETE CASCADE ON UPDATE CASCADE,
                   v text);
SELECT dbmirror_add_table('parent'), dbmirror_add_table('child'), dbmirror_add_table('sibling');
-- the tree by hand, with a name that sorts after the foreign-key triggers
CREATE TRIGGER zz_capture AFTER INSERT OR UPDATE OR DELETE ON node
    FOR EACH ROW EXECUTE FUNCTION recordchange();
CREATE TABLE replica.parent (LIKE parent);
CREATE TABLE replica.child (LIKE child);
CREATE TABLE replica.sibling (LIKE sibling);
CREATE TABLE replica.node (LIKE node);
CREATE VIEW fk_tables_match AS
SELECT t, same_as_replica(t)
  FROM unnest('{parent,child,sibling,node}'::regclass[]) t;

INSERT INTO parent VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO child VALUES (10, 1, 'a'), (11, 1, 'b'), (20, 2, 'c');
INSERT INTO sibling VALUES (100, 1), (200, 2), (300, 3);
INSERT INTO node VALUES (1, NULL, 'root'), (2, 1, 'kid'), (3, 2, 'grandkid'), (5, NULL, 'self');
UPDATE node SET up = 5 WHERE id = 5;
SELECT replay();

UPDATE parent SET id = 4 WHERE id = 1;
DELETE FROM parent WHERE id = 2;
SELECT n, table_name, op, key, data FROM queue;
SELECT replay();
SELECT * FROM fk_tables_match;

UPDATE node SET id = 50 WHERE id = 5;     -- the cascade changes the same row again
UPDATE node SET id = 10 WHERE id = 1;     -- and down the tree
SELECT * FROM node ORDER BY id;
DELETE FROM node WHERE id = 10;
SELECT n, op, key, data FROM queue;
SELECT replay();
SELECT * FROM fk_tables_match;

-- A row that references itself has its key changed: the foreign-key
-- cascade rewrites it again (that event joins the end of the statement),
-- and so does the trigger "a_touch", named between the foreign-key
-- triggers and the capture, in a nested statement that fires at once.  The
-- row's three events fire in the order 3, 1, 2: the first merges into the
-- third's logged change, and the second, already covered, is dropped.
CREATE TABLE loop_row (id int PRIMARY KEY,
                       up int REFERENCES loop_row ON UPDATE CASCADE,
                       v text);
CREATE TRIGGER zz_capture AFTER INSERT OR UPDATE OR DELETE ON loop_row
    FOR EACH ROW EXECUTE FUNCTION recordchange();
CREATE FUNCTION loop_row_touch() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.v = 'touch' THEN
        UPDATE loop_row SET v = 'touched' WHERE id = NEW.id;
    ELSIF NEW.v = 'drop' THEN
        DELETE FROM loop_row WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER a_touch AFTER UPDATE ON loop_row
    FOR EACH ROW EXECUTE FUNCTION loop_row_touch();
CREATE TABLE replica.loop_row (LIKE loop_row);
INSERT INTO loop_row VALUES (1, NULL, 'one'), (2, NULL, 'two');
UPDATE loop_row SET up = id;
SELECT replay();
UPDATE loop_row SET id = 10, v = 'touch' WHERE id = 1;
UPDATE loop_row SET id = 20, v = 'drop' WHERE id = 2;
SELECT * FROM loop_row ORDER BY id;
SELECT n, op, key, data FROM queue;
SELECT replay();
SELECT same_as_replica('loop_row');

-- the comparison does see a difference
UPDATE replica.sibling SET parent_id = 3 WHERE id = 100;
SELECT same_as_replica('sibling');
UPDATE replica.sibling SET parent_id = NULL WHERE id = 100;

-- (b) A trigger named "a_rewrite" fires before the capture trigger named
-- "capture", and changes the row it fired for again: its nested change is
-- captured first, and the outer event, found superseded, is folded into it.
CREATE TABLE counter (id int PRIMARY KEY, v int, note text);
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON counter
    FOR EACH ROW EXECUTE FUNCTION recordchange();
CREATE FUNCTION counter_rewrite() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.note = 'bump' AND NEW.v < 100 THEN
        UPDATE counter SET v = NEW.v + 100 WHERE id = NEW.id;
    ELSIF NEW.note = 'bump thrice' AND NEW.v % 10 < 3 THEN
        UPDATE counter SET v = NEW.v + 1 WHERE id = NEW.id;
    ELSIF NEW.note = 'fix me' THEN
        UPDATE counter SET note = 'fixed' WHERE id = NEW.id;
    ELSIF NEW.note = 'drop me' THEN
        DELETE FROM counter WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER a_rewrite AFTER INSERT OR UPDATE ON counter
    FOR EACH ROW EXECUTE FUNCTION counter_rewrite();
CREATE TABLE replica.counter (LIKE counter);

INSERT INTO counter VALUES (1, 0, 'plain'), (2, 0, 'plain'), (3, 0, 'plain');
SELECT replay();
-- update then update, for two rows of one statement
UPDATE counter SET v = 5, note = 'bump' WHERE id IN (1, 2);
-- update then update then update then update
UPDATE counter SET v = 10, note = 'bump thrice' WHERE id = 3;
-- insert then update (twice for a two-row insert), insert then three updates
INSERT INTO counter VALUES (4, 0, 'fix me'), (5, 0, 'fix me'), (6, 0, 'bump thrice');
-- insert then delete: nothing at all
INSERT INTO counter VALUES (7, 0, 'drop me');
-- update then delete
UPDATE counter SET note = 'drop me' WHERE id = 1;
SELECT * FROM counter ORDER BY id;
SELECT n, op, key, data FROM queue;
SELECT replay();
SELECT same_as_replica('counter');

-- all of it in one transaction
BEGIN;
UPDATE counter SET v = 1, note = 'bump' WHERE id = 2;
INSERT INTO counter VALUES (8, 0, 'fix me');
UPDATE counter SET v = 20, note = 'bump thrice' WHERE id IN (3, 8);
INSERT INTO counter VALUES (9, 0, 'drop me');
UPDATE counter SET note = 'drop me' WHERE id = 4;
COMMIT;
SELECT n, op, key, data FROM queue;
SELECT replay();
SELECT same_as_replica('counter');

-- The same when the key changes: the folded change starts from the
-- oldest key and ends at the newest row.
CREATE TABLE keyed (id int PRIMARY KEY, note text);
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON keyed
    FOR EACH ROW EXECUTE FUNCTION recordchange();
CREATE FUNCTION keyed_move() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.note = 'move' AND NEW.id < 1000 THEN
        UPDATE keyed SET id = NEW.id + 1000 WHERE id = NEW.id;
    ELSIF NEW.note = 'move twice' AND NEW.id < 2000 THEN
        UPDATE keyed SET id = NEW.id + 1000 WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER a_move AFTER INSERT OR UPDATE ON keyed
    FOR EACH ROW EXECUTE FUNCTION keyed_move();
CREATE TABLE replica.keyed (LIKE keyed);

INSERT INTO keyed VALUES (1, 'plain'), (2, 'plain'), (3, 'plain');
SELECT replay();
UPDATE keyed SET note = 'move' WHERE id = 1;
UPDATE keyed SET id = 20, note = 'move twice' WHERE id = 2;
INSERT INTO keyed VALUES (4, 'move');
-- the old key of one row becomes the new key of another
UPDATE keyed SET id = 5, note = 'move' WHERE id = 3;
INSERT INTO keyed VALUES (3, 'plain');
SELECT * FROM keyed ORDER BY id;
SELECT n, op, key, data FROM queue;
SELECT replay();
SELECT same_as_replica('keyed');

-- The same triggers with the capture attached by dbmirror_add_table(),
-- whose trigger sorts first: changes are logged in the order they happen
-- and nothing needs folding.
DROP TRIGGER capture ON counter;
DROP TRIGGER capture ON keyed;
SELECT dbmirror_add_table('counter'), dbmirror_add_table('keyed');
UPDATE counter SET v = 7, note = 'bump' WHERE id = 2;
INSERT INTO counter VALUES (10, 0, 'fix me'), (11, 0, 'drop me'), (12, 0, 'bump thrice');
UPDATE keyed SET note = 'move twice' WHERE id = 3;
SELECT n, table_name, op, key, data FROM queue;
SELECT replay();
SELECT same_as_replica('counter'), same_as_replica('keyed');

-- (c) A trigger that writes other mirrored tables: a log row per change
-- and a running total per item, and the order row itself again.
CREATE TABLE orders (id int PRIMARY KEY, item text, qty int, logged boolean DEFAULT false);
CREATE TABLE order_log (id bigserial PRIMARY KEY, order_id int, what text);
CREATE TABLE totals (item text PRIMARY KEY, qty int);
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION recordchange();
SELECT dbmirror_add_table('order_log'), dbmirror_add_table('totals');
CREATE FUNCTION orders_audit() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO order_log (order_id, what) VALUES (OLD.id, 'gone');
        UPDATE totals SET qty = qty - OLD.qty WHERE item = OLD.item;
        RETURN NULL;
    END IF;
    IF NEW.logged THEN
        RETURN NULL;
    END IF;
    INSERT INTO order_log (order_id, what) VALUES (NEW.id, TG_OP);
    INSERT INTO totals VALUES (NEW.item, NEW.qty)
        ON CONFLICT (item) DO UPDATE SET qty = totals.qty + EXCLUDED.qty;
    UPDATE orders SET logged = true WHERE id = NEW.id;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_audit();
CREATE TABLE replica.orders (LIKE orders);
CREATE TABLE replica.order_log (LIKE order_log);
CREATE TABLE replica.totals (LIKE totals);

BEGIN;
INSERT INTO orders VALUES (1, 'apple', 3), (2, 'pear', 1), (3, 'apple', 2);
UPDATE orders SET qty = 5, logged = false WHERE id = 2;
DELETE FROM orders WHERE id = 3;
COMMIT;
SELECT * FROM orders ORDER BY id;
SELECT * FROM order_log ORDER BY id;
SELECT * FROM totals ORDER BY item;
SELECT n, table_name, op, key, data FROM queue;
SELECT replay();
SELECT t, same_as_replica(t) FROM unnest('{orders,order_log,totals}'::regclass[]) t;

-- (d) A nested change made in an exception block: kept when the block
-- ends normally (logged inside a subtransaction that commits, then folded
-- into), gone when the block fails (so the outer change is logged as is).
CREATE TABLE guarded (id int PRIMARY KEY, v int, note text);
CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON guarded
    FOR EACH ROW EXECUTE FUNCTION recordchange();
CREATE FUNCTION guarded_attempt() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.v < 100 AND NEW.note IN ('try and keep', 'try and fail') THEN
        BEGIN
            UPDATE guarded SET v = NEW.v + 100 WHERE id = NEW.id;
            IF NEW.note = 'try and fail' THEN
                RAISE EXCEPTION 'undo';
            END IF;
        EXCEPTION WHEN raise_exception THEN
            NULL;
        END;
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER attempt AFTER INSERT OR UPDATE ON guarded
    FOR EACH ROW EXECUTE FUNCTION guarded_attempt();
CREATE TABLE replica.guarded (LIKE guarded);

INSERT INTO guarded VALUES (1, 0, 'plain'), (2, 0, 'plain');
SELECT replay();
UPDATE guarded SET v = 1, note = 'try and keep' WHERE id = 1;
UPDATE guarded SET v = 2, note = 'try and fail' WHERE id = 2;
INSERT INTO guarded VALUES (3, 3, 'try and keep'), (4, 4, 'try and fail');
SELECT * FROM guarded ORDER BY id;
SELECT n, op, key, data FROM queue;
SELECT replay();
SELECT same_as_replica('guarded');
