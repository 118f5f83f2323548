--
-- Values are written under the fixed output settings of docs/FORMAT.md
-- whatever the session set, and the session's own settings are left as
-- they were.
--
CREATE TABLE moments (
    id int PRIMARY KEY,
    d date,
    ts timestamp,
    tstz timestamptz,
    t time,
    ttz timetz,
    iv interval,
    f8 float8,
    f4 real,
    b bytea,
    m money,
    arr timestamptz[],
    r tstzrange,
    mm money[]
);
SELECT dbmirror_add_table('moments');
CREATE TABLE replica.moments (LIKE moments);

-- The reference: values written under the settings FORMAT.md fixes.
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 3;
SET bytea_output = 'hex';
SET lc_monetary = 'C';
INSERT INTO moments VALUES (1,
    '2024-02-29', '2024-02-29 13:14:15.5', '2024-01-02 03:04:05.25+00',
    '23:59:59.999999', '12:00:00+05:30',
    '1 year 2 mons 3 days 04:05:06.5', 0.1::float8 + 0.2::float8, 1.1::real / 3,
    '\x00ff27275c', 1234.56,
    ARRAY['2024-06-01 00:00:00+00'::timestamptz, NULL], '[2024-01-01 00:00+00,2024-01-02 00:00+00)',
    ARRAY[1.5::money, (-2)::money]);

-- A session with other ideas about all of them.
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Kathmandu';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
SET lc_monetary = 'C.UTF-8';
INSERT INTO moments SELECT 2, d, ts, tstz, t, ttz, iv, f8, f4, b, m, arr, r, mm FROM moments WHERE id = 1;
UPDATE moments SET iv = iv + '1 day', d = d + 1 WHERE id = 2;
SELECT * FROM moments ORDER BY id;

-- the session keeps its settings
SHOW DateStyle;
SHOW TimeZone;
SHOW IntervalStyle;
SHOW extra_float_digits;
SHOW bytea_output;
SHOW lc_monetary;

SELECT n, op, key, data FROM queue;
-- The odd session's row is the reference row but for its id, and for
-- timestamptz, written with the session's UTC offset (TimeZone is not
-- fixed: the ISO offset keeps the instant exact).
SELECT data = $$"id"='1' "d"='2024-02-29' "ts"='2024-02-29 13:14:15.5' "tstz"='2024-01-02 03:04:05.25+00' "t"='23:59:59.999999' "ttz"='12:00:00+05:30' "iv"='1 year 2 mons 3 days 04:05:06.5' "f8"='0.30000000000000004' "f4"='0.36666667' "b"='\\x00ff27275c' "m"='$1,234.56' "arr"='{"2024-06-01 00:00:00+00",NULL}' "r"='["2024-01-01 00:00:00+00","2024-01-02 00:00:00+00")' "mm"='{$1.50,-$2.00}' $$
       AS as_written_by_hand
  FROM queue WHERE n = 1;
SELECT data = $$"id"='2' "d"='2024-02-29' "ts"='2024-02-29 13:14:15.5' "tstz"='2024-01-02 08:49:05.25+05:45' "t"='23:59:59.999999' "ttz"='12:00:00+05:30' "iv"='1 year 2 mons 3 days 04:05:06.5' "f8"='0.30000000000000004' "f4"='0.36666667' "b"='\\x00ff27275c' "m"='$1,234.56' "arr"='{"2024-06-01 05:45:00+05:45",NULL}' "r"='["2024-01-01 05:45:00+05:45","2024-01-02 05:45:00+05:45")' "mm"='{$1.50,-$2.00}' $$
       AS as_written_by_hand
  FROM queue WHERE n = 2;
-- The update carries the key and the two columns it changed, in the same
-- fixed formats.
SELECT data = $$"id"='2' "d"='2024-03-01' "iv"='1 year 2 mons 4 days 04:05:06.5' $$
       AS update_as_expected
  FROM queue WHERE n = 3;
-- and what the odd session wrote reads back exactly, in UTC too
SET TimeZone = 'UTC';
SELECT replay();
SELECT same_as_replica('moments');
RESET ALL;
