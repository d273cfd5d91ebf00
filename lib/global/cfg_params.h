/*
 * cfg_params.h - one typed id per main.cf parameter, built from the tables
 *
 * The preprocessor reads cfg_params.def (every params_<owner>.def) several
 * times: once for enum cfg_id, the index of each parameter (and of each
 * table's end marker) in the registry array cfg_params[] of
 * cfg_registry.c, then once per parameter type for enum cfg_<type>_param,
 * whose constants P_<name> exist only for the parameters of that type.
 * The getters of cfg.h take these enums, so cfg_time(c, P_smtpd_timeout)
 * compiles, while a misspelt name (an undeclared P_...) or a parameter of
 * another type (an enum conversion, made an error in cfg.h) does not.
 * Included by cfg.h only.
 */
#ifndef PETREL_CFG_PARAMS_H
#define PETREL_CFG_PARAMS_H

#define CFG_SEL_STR(n)
#define CFG_SEL_BOOL(n)
#define CFG_SEL_INT(n)
#define CFG_SEL_TIME(n)
#define CFG_SEL_SIZE(n)
#define CFG_SEL_LIST(n)

/* the index in cfg_params[]: each table's parameters, then its end marker (a NULL
 * name); CFG_ID_BEGIN_<owner> equals the index of the table's first parameter */
enum cfg_id {
#define CFG_TABLE(o) CFG_ID_BEGIN_##o, CFG_ID_BEGIN_##o##_prev = CFG_ID_BEGIN_##o - 1,
#define CFG_TABLE_END(o) CFG_ID_END_##o,
#define P(name, type, ...) CFG_ID_##name,
#include "cfg_params.def"
#undef P
#undef CFG_TABLE
#undef CFG_TABLE_END
    CFG_ID_COUNT
};

#define CFG_TABLE(o)
#define CFG_TABLE_END(o)
#define P(name, type, ...) CFG_SEL_##type(name)

/* CFG_TYPED_ENUM - enum cfg_<type>_param: P_<name> for each parameter of that type */
#define CFG_TYPED_CONST(n) P_##n = CFG_ID_##n,

#undef CFG_SEL_STR
#define CFG_SEL_STR(n) CFG_TYPED_CONST(n)
enum cfg_str_param {
#include "cfg_params.def"
    CFG_STR_PARAM_NONE = -1
};
#undef CFG_SEL_STR
#define CFG_SEL_STR(n)

#undef CFG_SEL_BOOL
#define CFG_SEL_BOOL(n) CFG_TYPED_CONST(n)
enum cfg_bool_param {
#include "cfg_params.def"
    CFG_BOOL_PARAM_NONE = -1
};
#undef CFG_SEL_BOOL
#define CFG_SEL_BOOL(n)

#undef CFG_SEL_INT
#define CFG_SEL_INT(n) CFG_TYPED_CONST(n)
enum cfg_int_param {
#include "cfg_params.def"
    CFG_INT_PARAM_NONE = -1
};
#undef CFG_SEL_INT
#define CFG_SEL_INT(n)

#undef CFG_SEL_TIME
#define CFG_SEL_TIME(n) CFG_TYPED_CONST(n)
enum cfg_time_param {
#include "cfg_params.def"
    CFG_TIME_PARAM_NONE = -1
};
#undef CFG_SEL_TIME
#define CFG_SEL_TIME(n)

#undef CFG_SEL_SIZE
#define CFG_SEL_SIZE(n) CFG_TYPED_CONST(n)
enum cfg_size_param {
#include "cfg_params.def"
    CFG_SIZE_PARAM_NONE = -1
};
#undef CFG_SEL_SIZE
#define CFG_SEL_SIZE(n)

#undef CFG_SEL_LIST
#define CFG_SEL_LIST(n) CFG_TYPED_CONST(n)
enum cfg_list_param {
#include "cfg_params.def"
    CFG_LIST_PARAM_NONE = -1
};

#undef P
#undef CFG_TABLE
#undef CFG_TABLE_END
#undef CFG_TYPED_CONST
#undef CFG_SEL_STR
#undef CFG_SEL_BOOL
#undef CFG_SEL_INT
#undef CFG_SEL_TIME
#undef CFG_SEL_SIZE
#undef CFG_SEL_LIST

#endif
