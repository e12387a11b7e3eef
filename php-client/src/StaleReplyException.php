<?php

declare(strict_types=1);

namespace Phpsessd;

/**
 * A reply carried a request id other than the one just sent: the socket held a
 * reply to a request that died mid-exchange (a persistent socket reused by the
 * next PHP request). The socket is closed; HELLO is retried once on a new one.
 */
final class StaleReplyException extends ProtocolException
{
}
