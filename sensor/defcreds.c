/* defcreds.c: the built-in list of well-known default broker credentials.
 * Compared in place against wire bytes; the password is never copied, stored or printed.
 * The list is documented in docs/alerts.md (keep both in sync). */
#include <string.h>
#include "bw_facts.h"

struct defcred { const char *user, *pass; };

/* Vendor and distribution defaults seen on exposed brokers: RabbitMQ (guest/guest),
 * ActiveMQ/Artemis (admin/admin, system/manager, user/password), HiveMQ/EMQX dashboards
 * reused for MQTT (admin/public, admin/hivemq), mosquitto examples, and the generic pairs
 * every credential-stuffing list starts with. */
static const struct defcred defcreds[] = {
    { "guest", "guest" },     { "admin", "admin" },      { "admin", "password" },
    { "admin", "public" },    { "admin", "123456" },     { "admin", "" },
    { "system", "manager" },  { "user", "password" },    { "user", "user" },
    { "test", "test" },       { "root", "root" },        { "mqtt", "mqtt" },
    { "mosquitto", "mosquitto" }, { "admin", "hivemq" }, { "artemis", "artemis" },
    { "rabbitmq", "rabbitmq" }, { "pi", "raspberry" },   { "ubnt", "ubnt" },
};

static bool eq(const char *lit, const uint8_t *b, size_t n)
{
    size_t l = strlen(lit);
    return l == n && (n == 0 || memcmp(lit, b, n) == 0);
}

bool bw_defcreds_match(const uint8_t *user, size_t ulen, const uint8_t *pass, size_t plen)
{
    for (size_t i = 0; i < sizeof defcreds / sizeof defcreds[0]; i++)
        if (eq(defcreds[i].user, user, ulen) && eq(defcreds[i].pass, pass, plen))
            return true;
    return false;
}
