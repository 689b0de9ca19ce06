package main

import (
	"fmt"
	"strconv"
	"time"
)

// A Java stack trace as a service logging JSON to stdout and stderr writes
// it: the logger's JSON line at level error, then the exception as
// Throwable.printStackTrace prints it (the header, "\tat" frames, and
// half the time a "Caused by:" with its own frames and "\t... N more"),
// the format of pkg/process/testdata/multiline/java.log. Multiline java
// keeps the whole trace in the record of the JSON line (a line that
// mentions an error followed by an exception header keeps it).

// meanTraceLines is the mean length of a trace: the JSON line, the header,
// 8..24 frames (16), and half the time a cause of 1 + 2..6 + 1 lines (3).
const meanTraceLines = 1 + 1 + 16 + 3

var (
	javaExceptions = []string{
		"java.lang.IllegalStateException: order 4711 is already settled",
		"java.lang.NullPointerException: Cannot invoke \"com.example.shop.cart.Cart.getItems()\" because \"cart\" is null",
		"org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection",
		"java.io.UncheckedIOException: java.net.SocketTimeoutException: Read timed out",
		"java.util.concurrent.CompletionException: java.util.concurrent.TimeoutException",
	}
	javaCauses = []string{
		"java.net.SocketTimeoutException: Read timed out",
		"java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.",
		"java.lang.IllegalArgumentException: amount must be positive",
	}
	javaFrames = []string{
		"com.example.shop.checkout.CheckoutService.placeOrder(CheckoutService.java:142)",
		"com.example.shop.checkout.CheckoutController.checkout(CheckoutController.java:58)",
		"com.example.shop.payments.PaymentClient.authorize(PaymentClient.java:97)",
		"com.example.shop.cart.CartRepository.findByUser(CartRepository.java:41)",
		"java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
		"java.base/java.lang.reflect.Method.invoke(Method.java:580)",
		"org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:255)",
		"org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod.invokeAndHandle(ServletInvocableHandlerMethod.java:118)",
		"org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
		"org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
		"jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
		"org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:206)",
		"org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:167)",
		"org.apache.coyote.http11.Http11Processor.service(Http11Processor.java:391)",
		"org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1744)",
		"java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1144)",
		"java.base/java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:642)",
		"java.base/java.lang.Thread.run(Thread.java:1583)",
	}
	javaCauseFrames = []string{
		"java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
		"java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:314)",
		"com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
		"com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
		"com.example.shop.payments.PaymentClient.send(PaymentClient.java:130)",
		"com.example.shop.payments.Amounts.check(Amounts.java:22)",
	}
)

// startTrace fills g.trace with the lines of a new trace.
func (g *lineGen) startTrace() {
	r := g.rng
	n := 0
	line := func() *[]byte {
		if n == len(g.traceBuf) {
			g.traceBuf = append(g.traceBuf, nil)
		}
		n++
		g.traceBuf[n-1] = g.traceBuf[n-1][:0]
		return &g.traceBuf[n-1]
	}
	b := line()
	*b = append(*b, `{"ts":"`...)
	*b = g.t.AppendFormat(*b, time.RFC3339Nano)
	*b = append(*b, `","level":"error","logger":"com.example.shop.checkout.CheckoutController","thread":"http-nio-8080-exec-`...)
	*b = strconv.AppendInt(*b, int64(1+r.IntN(200)), 10)
	*b = append(*b, `","msg":"request failed","seq":`...)
	*b = strconv.AppendInt(*b, g.seq, 10)
	*b = fmt.Appendf(*b, `,"trace_id":"%016x%016x","src":"%s"}`, r.Uint64(), r.Uint64(), g.src)

	b = line()
	*b = append(*b, javaExceptions[r.IntN(len(javaExceptions))]...)
	frames := 8 + r.IntN(17)
	start := r.IntN(len(javaFrames))
	for i := range frames {
		b = line()
		*b = append(append(*b, "\tat "...), javaFrames[(start+i)%len(javaFrames)]...)
	}
	if r.IntN(2) == 0 {
		b = line()
		*b = append(append(*b, "Caused by: "...), javaCauses[r.IntN(len(javaCauses))]...)
		cf := 2 + r.IntN(5)
		s := r.IntN(len(javaCauseFrames))
		for i := range cf {
			b = line()
			*b = append(append(*b, "\tat "...), javaCauseFrames[(s+i)%len(javaCauseFrames)]...)
		}
		b = line()
		*b = fmt.Appendf(*b, "\t... %d more", frames-1)
	}
	g.trace = g.traceBuf[:n]
}
