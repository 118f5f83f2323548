/* libpq for Swift: the C header, nothing more. */
#ifndef DBMIRROR_CLIBPQ_SHIM_H
#define DBMIRROR_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
