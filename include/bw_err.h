/* bw_err.h: error codes shared by every module.
 * Functions return 0 or one negative BW_E* value; results travel through out-parameters.
 * Nothing here allocates or logs. */
#ifndef BW_ERR_H
#define BW_ERR_H

#define BW_OK         0
#define BW_ENOMEM    (-1)   /* an allocation at startup failed */
#define BW_ELIMIT    (-2)   /* a memcap or fixed bound was hit; the caller degrades */
#define BW_EMALFORMED (-3)  /* input bytes do not follow the format */
#define BW_EIO       (-4)   /* a file, interface or socket failed */
#define BW_EINVAL    (-5)   /* a bad argument or configuration value */

#if defined(__GNUC__)
#define BW_WARN_UNUSED __attribute__((warn_unused_result))
#define BW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BW_WARN_UNUSED
#define BW_PRINTF(a, b)
#endif

const char *bw_strerror(int err);

#endif
