;; A real nREPL client (the `nrepl` library's own, nrepl.core) driven by a script, for the
;; sidecar's nREPL endpoint tests (server/tests/nrepl_endpoint.rs).
;;
;; Usage: java -cp /usr/share/java/clojure.jar:/usr/share/java/nrepl.jar clojure.main \
;;          tests/nrepl/client.clj PORT SCRIPT.edn
;;
;; SCRIPT is an EDN vector of steps, run in order; each prints one JSON line to stdout:
;;   [:connect :a]               open connection :a (every message it receives is recorded)
;;   [:connect :a PORT]          the same, to another server
;;   [:clone :a :s1]             {"op": "clone"} on :a; remember the new session as :s1
;;   [:clone :a :s1 {...}]       the same with these fields added (e.g. :client-name, :id)
;;   [:send :a {:op "eval" ...}] send (keyword session values are replaced by remembered
;;                               ids), print the replies up to `done`; an :id given is kept
;;   [:seen :a]                  print every message :a received so far
;;   [:close :a]                 close connection :a
;; Keys of replies are printed as strings, values as JSON strings, numbers, arrays, objects.

(ns nrepl-endpoint.client
  (:require [clojure.edn :as edn]
            [clojure.string :as str]
            [nrepl.core :as nrepl]
            [nrepl.transport :as transport]))

(def reply-timeout-ms 60000)

(defn json [x]
  (cond
    (nil? x) "null"
    (or (keyword? x) (symbol? x)) (json (name x))
    (string? x) (str "\""
                     (str/escape x {\" "\\\"" \\ "\\\\" \newline "\\n" \return "\\r" \tab "\\t"})
                     "\"")
    (number? x) (str x)
    (boolean? x) (str x)
    (map? x) (str "{" (str/join "," (map (fn [[k v]] (str (json k) ":" (json v))) x)) "}")
    (coll? x) (str "[" (str/join "," (map json x)) "]")
    :else (json (str x))))

(defn recording
  "Wraps a transport so that every message it receives is also kept in `log`."
  [t log]
  (reify
    transport/Transport
    (recv [_] (transport/recv t))
    (recv [_ timeout] (let [m (transport/recv t timeout)]
                        (when m (swap! log conj m))
                        m))
    (send [_ m] (transport/send t m))
    java.io.Closeable
    (close [_] (.close ^java.io.Closeable t))))

(defn emit [step conn k v]
  (println (json {"step" step "conn" conn k v}))
  (flush))

(defn -main [port script]
  (let [steps (edn/read-string (slurp script))
        conns (atom {})
        sessions (atom {})
        resolve-session (fn [msg] (cond-> msg
                                    (keyword? (:session msg)) (assoc :session (get @sessions (:session msg)))))]
    (doseq [[i [kind conn & args]] (map-indexed vector steps)]
      (case kind
        :connect (let [log (atom [])
                       to (or (first args) (Integer/parseInt port))
                       t (recording (nrepl/connect :host "127.0.0.1" :port to) log)]
                   (swap! conns assoc conn {:transport t :client (nrepl/client t reply-timeout-ms) :log log})
                   (emit i conn "connected" true))
        :clone (let [reply (first (nrepl/message (:client (@conns conn))
                                                 (resolve-session (merge {:op "clone"} (second args)))))]
                 (swap! sessions assoc (first args) (:new-session reply))
                 (emit i conn "responses" [reply]))
        :send (emit i conn "responses"
                    (doall (nrepl/message (:client (@conns conn)) (resolve-session (first args)))))
        :seen (emit i conn "responses" @(:log (@conns conn)))
        :close (do (.close ^java.io.Closeable (:transport (@conns conn)))
                   (emit i conn "closed" true))))
    ;; Connections left open keep the JVM alive.
    (System/exit 0)))

(apply -main *command-line-args*)
