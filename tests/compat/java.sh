# Java (OpenJDK 17, headless) running a fixed thread pool of four workers.
source "$(dirname "$0")/lib.sh"
mkdir -p "$WORK/classes"
if ! javac -d "$WORK/classes" "$COMPAT/java/Pool.java" > "$WORK/javac.log" 2>&1; then
  fail "java: javac Pool.java"; sed 's/^/    /' "$WORK/javac.log" | head; finish
fi
c_run bare java 120 -- java -Xmx256m -cp "$WORK/classes" Pool 64 120
c_run agent java 120 -- java -Xmx256m -cp "$WORK/classes" Pool 64 120
c_same java
c_profile java
finish
